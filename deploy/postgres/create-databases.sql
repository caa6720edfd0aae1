-- Run once by the postgres image, on an empty data volume: one database per service
-- that keeps its state in PostgreSQL (the names ./dev uses). Each service creates its
-- own tables at start (sqlx migrations).
CREATE DATABASE commerce_auth;
CREATE DATABASE commerce_order;
CREATE DATABASE commerce_inventory;
CREATE DATABASE commerce_payment;
