-- Folders (names that are paths): one level of a folder is walked in byte order of names,
-- jumping over each subfolder in one index probe (postgres/folders.go), and moves, zips and
-- search walk a prefix. Byte order (COLLATE "C") is what S3 uses and what LIKE 'prefix%' can
-- turn into an index range whatever the database's collation.
CREATE INDEX files_owner_name ON files (owner_id, (name COLLATE "C"), id);

-- Search by part of a name (ILIKE '%text%') at a million files of one owner: trigrams.
-- pg_trgm is a trusted extension: a database owner without superuser may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX files_name_trgm ON files USING gin (name gin_trgm_ops);
