-- The keys auth signs tokens with. The newest key not retired signs; every key stays
-- published on auth.keys so tokens signed before a rotation verify until they expire.
-- The private key is a PKCS#8 document and never leaves this table and auth's memory.
CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    algorithm   text NOT NULL CHECK (algorithm = 'EdDSA'),
    private_key bytea NOT NULL,
    public_key  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz
);
