package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

var _ files.RetentionStore = (*DB)(nil)

// SetFileExpiry implements files.RetentionStore.
func (db *DB) SetFileExpiry(ctx context.Context, ownerID string, id uuid.UUID, expiresAt *time.Time) (files.File, error) {
	f, err := scanFile(db.pool.QueryRow(ctx, `UPDATE files SET expires_at = $3 WHERE id = $1 AND owner_id = $2 RETURNING `+fileColumns,
		[16]byte(id), ownerID, expiresAt))
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
	rows, err := db.pool.Query(ctx, `DELETE FROM files WHERE id IN (
			SELECT id FROM files WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING `+fileColumns, now, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: take expired files: %w", mapErr(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (files.File, error) { return scanFile(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: take expired files: %w", mapErr(err))
	}
	return list, nil
}
