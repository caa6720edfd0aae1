-- Where an order goes: {name, line1, line2?, city, postalCode, country}. NULL for an
-- order rejected because of its address.
ALTER TABLE orders ADD COLUMN shipping_address jsonb;
