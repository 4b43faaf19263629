-- OAuth clients of the authorization code grant. A public client (a browser or native app)
-- has no secret; every client may carry exact redirect URIs and the browser origins allowed
-- to call the token endpoint (CORS).
ALTER TABLE clients ALTER COLUMN secret_hash DROP NOT NULL;
ALTER TABLE clients ADD COLUMN redirect_uris text[] NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN allowed_origins text[] NOT NULL DEFAULT '{}';
CREATE INDEX clients_allowed_origins ON clients USING gin (allowed_origins);

-- A refresh token belongs to the client it was issued to ('coffer' for /v1/login).
ALTER TABLE refresh_tokens ADD COLUMN client_id text NOT NULL DEFAULT 'coffer';

-- One-time authorization codes, stored hashed. family_id is the refresh family the code was
-- exchanged for, so that a replay can revoke it (RFC 6749 section 10.5); replayed_at marks a
-- code presented twice, so an exchange still in flight cannot finish after the replay.
CREATE TABLE authorization_codes (
    code_hash      bytea PRIMARY KEY,
    client_id      text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   text NOT NULL,
    code_challenge text NOT NULL,
    scope          text NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    replayed_at    timestamptz,
    family_id      uuid
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);

-- Sign-in sessions of the authorization endpoint (the auth-session cookie), stored hashed.
CREATE TABLE auth_sessions (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);
CREATE INDEX auth_sessions_expires ON auth_sessions (expires_at);
