-- Users. Emails are stored lower-cased and unique, so "A@x.io" and "a@x.io" are one account.
CREATE TABLE users (
    user_id       uuid PRIMARY KEY,
    email         text NOT NULL,
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('buyer', 'seller', 'admin')),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_email_key ON users (lower(email));
