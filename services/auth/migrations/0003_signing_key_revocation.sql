-- A revoked key never signs again and is withdrawn from auth.keys: at every start auth
-- publishes a tombstone under its kid, and gateways stop verifying tokens it signed.
-- Revoke with: UPDATE signing_keys SET revoked_at = now() WHERE kid = '<kid>'; then
-- restart auth (docs/auth.md).
ALTER TABLE signing_keys ADD COLUMN revoked_at timestamptz;
