-- One row per product: what is held, what is promised to open orders, and when to
-- reorder. `available` is on_hand - reserved; the checks make overselling impossible.
CREATE TABLE stock (
    product_id    uuid PRIMARY KEY,
    seller_id     uuid NOT NULL,
    on_hand       bigint NOT NULL CHECK (on_hand >= 0),
    reserved      bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    reorder_point integer NOT NULL DEFAULT 10 CHECK (reorder_point >= 0),
    -- Below the reorder point since the last low_stock event.
    low           boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_available_not_negative CHECK (on_hand >= reserved)
);

CREATE INDEX stock_low ON stock (product_id) WHERE low;

-- Every change, with why and, for order moves, which order.
CREATE TABLE stock_movements (
    movement_id    bigserial PRIMARY KEY,
    product_id     uuid NOT NULL REFERENCES stock (product_id),
    kind           text NOT NULL CHECK (kind IN ('initial', 'adjustment', 'reservation', 'release', 'commit')),
    on_hand_delta  bigint NOT NULL,
    reserved_delta bigint NOT NULL,
    reason         text NOT NULL,
    order_id       uuid,
    message_id     uuid NOT NULL,
    at             timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX stock_movements_product ON stock_movements (product_id, movement_id);
CREATE INDEX stock_movements_order ON stock_movements (order_id) WHERE order_id IS NOT NULL;
