-- The cart version an order checks out, when it was placed from the buyer's cart: the
-- invariant checker holds the cart service to having emptied that version.
ALTER TABLE orders ADD COLUMN cart_version bigint;
