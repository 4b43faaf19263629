-- Resumable (tus) uploads. The row holds everything a file node needs to continue an upload
-- started on another: how many bytes are durable (received), the SHA-256 state of those bytes
-- (so completion never re-reads them), and the blob store's own state (an S3 multipart upload's
-- parts). A completed upload keeps its row until it expires, so a client that lost the final
-- response can still ask for the offset; its bytes are then the file with the same id.
CREATE TABLE file_uploads (
    id           uuid PRIMARY KEY,
    owner_id     text NOT NULL,
    name         text NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL CHECK (size >= 0),
    received     bigint NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= size),
    hash_state   bytea NOT NULL,
    store_state  bytea,
    want_sha256  bytea CHECK (length(want_sha256) = 32),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    completed_at timestamptz
);
CREATE INDEX file_uploads_expires ON file_uploads (expires_at);
