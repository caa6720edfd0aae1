-- When the saga's two middle steps happened, from the events that report them: the
-- storefront's timeline shows them between "placed" and the order's outcome. They are
-- not statuses: an order is PENDING until it is confirmed or cancelled.
ALTER TABLE orders ADD COLUMN stock_reserved_at timestamptz;
ALTER TABLE orders ADD COLUMN paid_at timestamptz;
