-- Refresh token families have an absolute lifetime; each token in a family has an idle one
-- (expires_at), never past the family's.
ALTER TABLE refresh_tokens ADD COLUMN family_expires_at timestamptz;
UPDATE refresh_tokens SET family_expires_at = expires_at;
ALTER TABLE refresh_tokens ALTER COLUMN family_expires_at SET NOT NULL;

-- Service clients for the client_credentials grant. Secrets are 256 random bits, so a
-- SHA-256 hash is enough (no password stretching needed).
CREATE TABLE clients (
    id          text PRIMARY KEY,
    secret_hash bytea NOT NULL,
    scopes      text NOT NULL,
    disabled    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL
);
