-- The catalog as the order service knows it, from catalog.events: what it prices with.
CREATE TABLE products (
    product_id  uuid PRIMARY KEY,
    sku         text NOT NULL,
    name        text NOT NULL,
    price_cents bigint NOT NULL,
    currency    text NOT NULL,
    active      boolean NOT NULL
);

CREATE TABLE orders (
    order_id      uuid PRIMARY KEY,
    user_id       uuid NOT NULL,
    status        text NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'CANCELLED', 'REJECTED')),
    -- cancelReason or rejectReason, by status.
    reason        text,
    items         jsonb NOT NULL,
    total_cents   bigint NOT NULL CHECK (total_cents >= 0),
    currency      text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX orders_by_user ON orders (user_id, created_at DESC, order_id);
CREATE INDEX orders_by_status ON orders (status, created_at DESC, order_id);
CREATE INDEX orders_by_time ON orders (created_at DESC, order_id);

-- Every transition, with its time and reason.
CREATE TABLE order_history (
    order_id    uuid NOT NULL REFERENCES orders (order_id),
    seq         integer NOT NULL,
    from_status text,
    to_status   text NOT NULL,
    reason      text,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, seq)
);
