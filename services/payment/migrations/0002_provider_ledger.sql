-- The simulated payment provider's own books, kept as a real provider keeps them: one
-- row per idempotency key. A call with a key that already has an answer gets that answer
-- again and charges nothing more; a call that found the provider unavailable leaves the
-- answer open and counts the attempt. Payment derives the key from the order id, so no
-- retry, rollback or crash can charge an order twice. No card token is kept.
CREATE TABLE provider_ledger (
    idempotency_key uuid PRIMARY KEY,
    amount_cents    bigint NOT NULL,
    currency        text NOT NULL,
    -- 'approved', or the reason of a decline; NULL while every call failed transiently.
    answer          text,
    calls           int NOT NULL,
    first_call_at   timestamptz NOT NULL DEFAULT now(),
    answered_at     timestamptz
);
