-- Signed download links. The token carries the signature; this row makes it revocable
-- (deleting the row revokes it) and counts downloads.
CREATE TABLE file_links (
    id             uuid PRIMARY KEY,
    file_id        uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    jti            text NOT NULL UNIQUE,
    sha256         bytea NOT NULL CHECK (length(sha256) = 32),
    expires_at     timestamptz NOT NULL,
    downloads_left integer CHECK (downloads_left >= 0), -- NULL: unlimited
    created_at     timestamptz NOT NULL
);
CREATE INDEX file_links_file ON file_links (file_id);
