package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cofferhq/coffer/services/files/internal/fence"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// FileRefs calls fn for every file row created before before (but those the virus scanner
// rejected, whose bytes are deleted on purpose), in batches by id, so a long
// check (digests read at a bounded rate) holds no transaction or snapshot open.
func (db *DB) FileRefs(ctx context.Context, before time.Time, fn func(files.File) error) error {
	var after [16]byte
	for {
		rows, err := db.pool.Query(ctx, `SELECT `+readColumns+` FROM files WHERE id > $1 AND created_at < $2
			AND status <> 'rejected' ORDER BY id LIMIT 1000`, after, before)
		if err != nil {
			return fmt.Errorf("postgres: file refs: %w", mapErr(err))
		}
		var batch []files.File
		for rows.Next() {
			f, err := scanFile(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("postgres: file refs: %w", mapErr(err))
			}
			batch = append(batch, f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: file refs: %w", mapErr(err))
		}
		for _, f := range batch {
			if err := fn(f); err != nil {
				return err
			}
		}
		if len(batch) < 1000 {
			return nil
		}
		after = batch[len(batch)-1].ID
	}
}

// MarkMissing records that a file's bytes are gone or damaged: its blob_key becomes
// files.MissingKeyPrefix + the key it had, which no blob has, so no node serves the damaged
// bytes. It changes nothing if the row is gone or its key changed since it was read (ok false).
func (db *DB) MarkMissing(ctx context.Context, id uuid.UUID, blobKey string, now time.Time) (bool, error) {
	// A notice, so that no node's access cache keeps the old key.
	var tag pgconn.CommandTag
	err := db.revoke(ctx, func(tx pgx.Tx) ([]fence.Notice, error) {
		var err error
		tag, err = tx.Exec(ctx, `UPDATE files SET blob_key = $3 || blob_key, missing_at = $4 WHERE id = $1 AND blob_key = $2`,
			[16]byte(id), blobKey, files.MissingKeyPrefix, now)
		return []fence.Notice{{Kind: fence.FileChanged, FileID: id}}, err
	})
	if err != nil {
		return false, fmt.Errorf("postgres: mark missing: %w", mapErr(err))
	}
	return tag.RowsAffected() == 1, nil
}
