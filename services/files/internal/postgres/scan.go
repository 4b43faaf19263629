package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// FileForScan returns a file by id whoever owns it; files.ErrNotFound if it is gone.
func (db *DB) FileForScan(ctx context.Context, id uuid.UUID) (files.File, error) {
	f, err := scanFile(db.pool.QueryRow(ctx, `SELECT `+readColumns+` FROM files WHERE id = $1`, [16]byte(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return files.File{}, files.ErrNotFound
	}
	if err != nil {
		return files.File{}, fmt.Errorf("postgres: file: %w", mapErr(err))
	}
	return f, nil
}

// MarkAvailable makes a pending file available. It reports false if the file is no longer
// pending (deleted, or already judged).
func (db *DB) MarkAvailable(ctx context.Context, id uuid.UUID) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE files SET status = 'available' WHERE id = $1 AND status = 'pending_scan'`, [16]byte(id))
	if err != nil {
		return false, fmt.Errorf("postgres: mark available: %w", mapErr(err))
	}
	return tag.RowsAffected() == 1, nil
}

// RejectFile marks a pending file rejected with reason, which releases its quota (the usage
// trigger counts no rejected file), and records file.rejected in the same transaction. It
// returns the file, and false if it was no longer pending.
func (db *DB) RejectFile(ctx context.Context, id uuid.UUID, reason string) (files.File, bool, error) {
	var f files.File
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		f, err = scanFile(tx.QueryRow(ctx, `UPDATE files SET status = 'rejected', status_reason = $2
			WHERE id = $1 AND status = 'pending_scan' RETURNING `+readColumns, [16]byte(id), reason))
		if err != nil {
			return err
		}
		e := files.NewEvent(files.EventFileRejected, f, db.now())
		e.Data.Reason = reason
		return db.emit(ctx, tx, e)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return files.File{}, false, nil
	}
	if err != nil {
		return files.File{}, false, fmt.Errorf("postgres: reject file: %w", mapErr(err))
	}
	return f, true, nil
}

// ScanBacklog counts the files waiting for the scanner.
func (db *DB) ScanBacklog(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM files WHERE status = 'pending_scan'`).Scan(&n)
	return n, mapErr(err)
}

// FailingDeliveries counts webhook deliveries whose last attempt failed (river's table).
func (db *DB) FailingDeliveries(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'webhook_delivery'
		AND state NOT IN ('completed', 'cancelled') AND array_length(errors, 1) > 0`).Scan(&n)
	return n, mapErr(err)
}
