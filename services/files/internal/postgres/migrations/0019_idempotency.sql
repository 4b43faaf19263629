-- Idempotency-Key (the IETF httpapi draft) on uploads: a retried upload with the same key,
-- from the same user, answers with the file the first one stored. The key is recorded in the
-- transaction that stores the file, so a key names a stored file or nothing; it lives as long
-- as its file (deleting the file frees the key).
CREATE TABLE file_idempotency_keys (
    owner_id   text NOT NULL,
    key        text NOT NULL,
    file_id    uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, key)
);
CREATE INDEX file_idempotency_keys_file ON file_idempotency_keys (file_id);
