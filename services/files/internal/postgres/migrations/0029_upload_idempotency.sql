-- Idempotency-Key on resumable (tus) uploads: a retried creation with the same key, from the
-- same user, answers with the first upload (or, once complete, its file) instead of starting a
-- second one. The key lives on the upload's row, so it lasts as long as the row (until the
-- upload's expiry, COFFER_FILES_UPLOAD_EXPIRY). Expand-only: a previous release's nodes
-- neither write nor read the column.
ALTER TABLE file_uploads ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX file_uploads_idempotency ON file_uploads (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
