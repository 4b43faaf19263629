-- Search walks (postgres/folders.go) and folder levels read files_owner_name and the sort
-- indexes index-only, which skips the heap only on pages the visibility map marks all-visible;
-- autovacuum marks them, by default after inserts of 20% of the table. An account that grows
-- by 200,000 files between two visits walks up to a page's worth of heap fetches per name
-- (BenchmarkSearch, common text in a folder: 17 ms p50 / 288 ms p99 with the pages unmarked,
-- 5.9 ms / 8.9 ms marked, 100 searches each). After 1% new rows (or 10,000) the insert-only
-- visit is short: it reads only the pages not yet marked. A storage parameter: nothing the
-- previous release reads changes.
ALTER TABLE files SET (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_insert_threshold = 10000);
