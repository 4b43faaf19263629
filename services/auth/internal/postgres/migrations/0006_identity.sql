-- Identity: people signed in through an upstream OpenID provider, TOTP second factors with
-- recovery codes, invitations and password-reset links. Expand-only: new tables, and one
-- column with a default that the previous release never reads.

-- A person known to an upstream provider is (issuer, subject), never an email alone.
CREATE TABLE user_identities (
    issuer     text NOT NULL,
    subject    text NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);

-- A TOTP secret, sealed under the key-encryption key. confirmed_at is null while the user has
-- not yet proved a code; last_step is the last time step accepted, so a code is used once.
CREATE TABLE user_totp (
    user_id      uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed       bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    confirmed_at timestamptz,
    last_step    bigint NOT NULL DEFAULT 0
);

-- One-time recovery codes, stored as SHA-256 hashes (they carry 80 random bits).
CREATE TABLE user_recovery_codes (
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- One-time links: an invitation (creates a user) or a password reset (sets a user's password).
-- Only the hash of the link's token is kept.
CREATE TABLE invitations (
    token_hash bytea PRIMARY KEY,
    id         uuid NOT NULL UNIQUE,
    kind       text NOT NULL CHECK (kind IN ('invite', 'reset')),
    username   text NOT NULL DEFAULT '',
    user_id    uuid REFERENCES users (id) ON DELETE CASCADE,
    created_by text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    used_by    uuid
);
CREATE INDEX invitations_expires ON invitations (expires_at);

-- An upstream sign-in in flight: state, nonce and PKCE verifier, stored until the callback;
-- with user_id set, a sign-in waiting for that user's second factor.
CREATE TABLE upstream_logins (
    state_hash    bytea PRIMARY KEY,
    provider      text NOT NULL,
    nonce         text NOT NULL,
    verifier      text NOT NULL,
    return_to     text NOT NULL,
    invitation    bytea,
    user_id       uuid REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX upstream_logins_expires ON upstream_logins (expires_at);
