-- Sorted listings (GET /v1/files?sort=name|size|modified&order=asc|desc, postgres/sort.go):
-- every page is a keyset seek in one of these, never a sort of a folder's or an owner's rows.
-- A level's files are the rows whose folder (the name up to its last "/", an IMMUTABLE
-- expression) is the level's prefix; its subfolders are the distinct folders past the prefix,
-- walked one index probe per subfolder. Expand-only: new indexes, nothing the previous release
-- reads changes. (pkg/pgmigrate runs each migration in a transaction, so no CONCURRENTLY.)
CREATE INDEX files_owner_dir_name ON files (owner_id, (regexp_replace(name, '[^/]*$', '') COLLATE "C"), (name COLLATE "C"), id);
CREATE INDEX files_owner_dir_size ON files (owner_id, (regexp_replace(name, '[^/]*$', '') COLLATE "C"), size, id);
CREATE INDEX files_owner_dir_created ON files (owner_id, (regexp_replace(name, '[^/]*$', '') COLLATE "C"), created_at, id);
-- The flat listing by size (by name it walks files_owner_name, by date files_owner_created).
CREATE INDEX files_owner_size ON files (owner_id, size, id);
