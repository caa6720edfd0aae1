-- What payment knows of each order: the amount (from order_placed), whether its stock
-- is reserved (stock_reserved) and whether it was cancelled (order_cancelled). Those
-- facts arrive on two topics in any order; the decision to charge, refund or void is
-- taken on the row, under its lock, after each of them.
CREATE TABLE payments (
    order_id       uuid PRIMARY KEY,
    user_id        uuid,
    amount_cents   bigint,
    currency       text,
    -- The provider token, cleared once used.
    payment_token  text,
    stock_reserved boolean NOT NULL DEFAULT false,
    cancelled      boolean NOT NULL DEFAULT false,
    status         text NOT NULL CHECK (status IN ('waiting', 'succeeded', 'failed', 'refunded', 'voided')),
    payment_id     uuid,
    failure_reason text,
    refunded_cents bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Successful charges. The unique order_id is the rule "at most one successful charge
-- per order", kept by the database whatever the code does.
CREATE TABLE charges (
    payment_id   uuid PRIMARY KEY,
    order_id     uuid NOT NULL UNIQUE REFERENCES payments (order_id),
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    currency     text NOT NULL,
    charged_at   timestamptz NOT NULL DEFAULT now()
);

-- Refunds, at most one per charge.
CREATE TABLE refunds (
    payment_id   uuid PRIMARY KEY REFERENCES charges (payment_id),
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    refunded_at  timestamptz NOT NULL DEFAULT now()
);
