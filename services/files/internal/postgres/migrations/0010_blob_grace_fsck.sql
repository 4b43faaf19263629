-- Deleted files' blobs are kept for COFFER_FILES_BLOB_GRACE before the collector removes them,
-- so a database restored to an earlier point still finds its bytes. A trigger records every
-- deletion, whichever code path (or cascade) deletes the row; the collector skips blobs
-- recorded here within the grace and prunes older records. Expand-only: the previous release
-- never reads this table, and the trigger changes nothing it does.
CREATE TABLE file_deleted_blobs (
    blob_key   text PRIMARY KEY,
    deleted_at timestamptz NOT NULL
);
CREATE INDEX file_deleted_blobs_deleted_at ON file_deleted_blobs (deleted_at);

CREATE FUNCTION files_record_deleted_blob() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO file_deleted_blobs (blob_key, deleted_at) VALUES (OLD.blob_key, now())
    ON CONFLICT (blob_key) DO UPDATE SET deleted_at = EXCLUDED.deleted_at;
    RETURN NULL;
END
$$;

CREATE TRIGGER files_deleted_blob AFTER DELETE ON files
    FOR EACH ROW EXECUTE FUNCTION files_record_deleted_blob();

-- `coffer-files fsck --repair` marks a file whose bytes are gone or damaged: missing_at says
-- when, and its blob_key becomes 'missing/' || the old key, which no blob store has, so every
-- node (this release's and the previous one's) answers an error, never wrong bytes.
ALTER TABLE files ADD COLUMN missing_at timestamptz;
