package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/files/internal/fence"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

var _ files.RetentionStore = (*DB)(nil)

// SetFileExpiry implements files.RetentionStore.
func (db *DB) SetFileExpiry(ctx context.Context, ownerID string, id uuid.UUID, expiresAt *time.Time) (files.File, error) {
	// A notice, so that no node's access cache keeps showing the old expiry.
	var f files.File
	err := db.revoke(ctx, func(tx pgx.Tx) ([]fence.Notice, error) {
		var err error
		f, err = scanFile(tx.QueryRow(ctx, `UPDATE files SET expires_at = $3 WHERE id = $1 AND owner_id = $2 RETURNING `+readColumns,
			[16]byte(id), ownerID, expiresAt))
		return []fence.Notice{{Kind: fence.FileChanged, FileID: id, OwnerID: ownerID}}, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return files.File{}, files.ErrNotFound
	}
	if err != nil {
		return files.File{}, fmt.Errorf("postgres: set file expiry: %w", mapErr(err))
	}
	return f, nil
}

// TakeExpiredFiles implements files.RetentionStore: one DELETE whose rows are locked with SKIP
// LOCKED, so concurrent collectors on several nodes each take different rows, and a row is
// returned once. The usage trigger releases the quota and ON DELETE CASCADE drops links and
// shares in the same statement.
func (db *DB) TakeExpiredFiles(ctx context.Context, now time.Time, limit int) ([]files.File, error) {
	var list []files.File
	err := db.revoke(ctx, func(tx pgx.Tx) ([]fence.Notice, error) {
		rows, err := tx.Query(ctx, `DELETE FROM files WHERE id IN (
				SELECT id FROM files WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
			RETURNING `+readColumns, now, limit)
		if err != nil {
			return nil, err
		}
		if list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (files.File, error) { return scanFile(r) }); err != nil {
			return nil, err
		}
		// A replica must not serve an expired file once it is gone (see fence); and each
		// deletion's file.expired event commits with it, exactly once.
		notices := make([]fence.Notice, 0, len(list))
		for _, f := range list {
			notices = append(notices, fence.Notice{Kind: fence.FileExpired, FileID: f.ID, OwnerID: f.OwnerID})
			if err := db.emit(ctx, tx, files.NewEvent(files.EventFileExpired, f, db.now())); err != nil {
				return nil, err
			}
		}
		return notices, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: take expired files: %w", mapErr(err))
	}
	return list, nil
}
