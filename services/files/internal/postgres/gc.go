package postgres

import (
	"context"
	"fmt"
	"time"
)

// MissingBlobKeys returns the keys among keys that no file row references: orphan blobs, left
// by a crash between a blob's write and its row's commit, or by a failed delete. The blob of a
// resumable upload is not an orphan while the upload's row lives (its expiry removes both),
// nor is the blob of a file deleted after deletedSince (kept for the blob grace).
func (db *DB) MissingBlobKeys(ctx context.Context, keys []string, deletedSince time.Time) ([]string, error) {
	rows, err := db.pool.Query(ctx,
		`SELECT k FROM unnest($1::text[]) AS k WHERE NOT EXISTS (SELECT 1 FROM files WHERE blob_key = k)
			AND NOT EXISTS (SELECT 1 FROM file_uploads WHERE id::text = k)
			AND NOT EXISTS (SELECT 1 FROM file_deleted_blobs WHERE blob_key = k AND deleted_at > $2)`, keys, deletedSince)
	if err != nil {
		return nil, fmt.Errorf("postgres: missing blob keys: %w", mapErr(err))
	}
	defer rows.Close()
	var missing []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("postgres: missing blob keys: %w", mapErr(err))
		}
		missing = append(missing, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: missing blob keys: %w", mapErr(err))
	}
	return missing, nil
}

// PruneDeletedBlobs forgets the file deletions recorded before t (their blobs' grace is over).
func (db *DB) PruneDeletedBlobs(ctx context.Context, before time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM file_deleted_blobs WHERE deleted_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("postgres: prune deleted blobs: %w", mapErr(err))
	}
	return tag.RowsAffected(), nil
}

// Lock takes the session-level advisory lock id on a connection of its own, waiting for it
// when wait is set and giving up at once otherwise. release unlocks it and returns the
// connection; if the connection dies, PostgreSQL drops the lock itself, so a crashed node
// never holds it.
func (db *DB) Lock(ctx context.Context, id int64, wait bool) (release func(), ok bool, err error) {
	conn, err := db.direct.Acquire(ctx) // a session of its own, never through a pooler
	if err != nil {
		return nil, false, fmt.Errorf("postgres: lock: %w", mapErr(err))
	}
	if wait {
		_, err = conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, id)
		ok = err == nil
	} else {
		err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, id).Scan(&ok)
	}
	if err != nil || !ok {
		conn.Release()
		if err != nil {
			return nil, false, fmt.Errorf("postgres: lock: %w", mapErr(err))
		}
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, id); err != nil {
			// Closing the connection drops the lock for certain.
			conn.Conn().Close(ctx)
		}
		conn.Release()
	}, true, nil
}
