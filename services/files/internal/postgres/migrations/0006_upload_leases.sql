-- Locks of resumable uploads as leases: a row names the node request holding an upload and
-- until when; the holder renews it while its PATCH runs, anyone may take it over once it has
-- expired (a node that died), and release_requested asks the holder to let go (tusd's lock
-- release request), besides a NOTIFY on coffer_upload_release. No session is held, so
-- in-flight uploads are bounded by file nodes, not by PostgreSQL connections. Expand-only:
-- nodes of the previous release keep their advisory locks (see docs/SCALING.md for the
-- rolling switch).
CREATE TABLE file_upload_leases (
    upload_id         uuid PRIMARY KEY,
    holder            text NOT NULL,
    expires_at        timestamptz NOT NULL,
    release_requested boolean NOT NULL DEFAULT false
);
