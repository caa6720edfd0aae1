-- Charging is a step of its own: the handler decides to charge and commits; the charger
-- then calls the provider outside any transaction and records its answer in another.
-- next_attempt_at is when the charger may call (again): a claim pushes it forward, so
-- one instance calls at a time and a crashed one's claim runs out. correlation_id
-- carries the saga's correlation over to the events the charger sends.
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('waiting', 'charging', 'succeeded', 'failed', 'refunded', 'voided'));
ALTER TABLE payments ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE payments ADD COLUMN correlation_id uuid;
CREATE INDEX payments_due ON payments (next_attempt_at) WHERE status = 'charging';
