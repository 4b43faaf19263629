CREATE TABLE files (
    id           uuid PRIMARY KEY,
    owner_id     text NOT NULL,
    name         text NOT NULL,
    size         bigint NOT NULL CHECK (size >= 0),
    sha256       bytea NOT NULL CHECK (length(sha256) = 32),
    content_type text NOT NULL,
    blob_key     text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL
);
-- Keyset pagination, newest first, per owner.
CREATE INDEX files_owner_created ON files (owner_id, created_at DESC, id DESC);
