-- One row per order inventory has seen: what it holds for it, and what became of it.
-- A reservation is all or nothing: either every line is held (reserved) or none
-- (failed). It ends committed (the order was confirmed: the units are sold) or
-- released (cancelled: the units are back).
CREATE TABLE reservations (
    order_id   uuid PRIMARY KEY,
    status     text NOT NULL CHECK (status IN ('reserved', 'failed', 'committed', 'released')),
    -- [{"productId": …, "quantity": …}], one entry per product.
    items      jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
