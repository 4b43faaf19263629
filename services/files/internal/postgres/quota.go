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

var _ files.QuotaStore = (*DB)(nil)

// ReserveQuota implements files.QuotaStore. The owner's file_usage row is locked for the
// check and the update, so concurrent reservations of one owner are serialised (those of
// different owners are not).
func (db *DB) ReserveQuota(ctx context.Context, ownerID string, id uuid.UUID, need, want, quota int64, ttl time.Duration) (int64, error) {
	var granted int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var used, held int64
		var own *int64 // the user's own quota, set by an admin (migration 0011)
		if _, err := tx.Exec(ctx, `INSERT INTO file_usage (owner_id) VALUES ($1) ON CONFLICT DO NOTHING`, ownerID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT used_bytes, quota_bytes FROM file_usage WHERE owner_id = $1 FOR UPDATE`, ownerID).Scan(&used, &own); err != nil {
			return err
		}
		if own != nil {
			quota = *own
		}
		if _, err := tx.Exec(ctx, `DELETE FROM file_quota_reservations WHERE owner_id = $1 AND expires_at < now()`, ownerID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(bytes), 0) FROM file_quota_reservations WHERE owner_id = $1`, ownerID).Scan(&held); err != nil {
			return err
		}
		free := quota - used - held
		if free < need {
			return files.ErrQuotaExceeded
		}
		granted = min(want, free)
		_, err := tx.Exec(ctx, `INSERT INTO file_quota_reservations (id, owner_id, bytes, expires_at)
			VALUES ($1, $2, $3, now() + make_interval(secs => $4))
			ON CONFLICT (id) DO UPDATE SET bytes = file_quota_reservations.bytes + EXCLUDED.bytes, expires_at = EXCLUDED.expires_at`,
			id, ownerID, granted, ttl.Seconds())
		return err
	})
	if errors.Is(err, files.ErrQuotaExceeded) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: reserve quota: %w", mapErr(err))
	}
	return granted, nil
}

// ExtendQuota implements files.QuotaStore.
func (db *DB) ExtendQuota(ctx context.Context, id uuid.UUID, ttl time.Duration) error {
	if _, err := db.pool.Exec(ctx, `UPDATE file_quota_reservations SET expires_at = now() + make_interval(secs => $2)
		WHERE id = $1`, id, ttl.Seconds()); err != nil {
		return fmt.Errorf("postgres: extend quota: %w", mapErr(err))
	}
	return nil
}

// ReleaseQuota implements files.QuotaStore.
func (db *DB) ReleaseQuota(ctx context.Context, id uuid.UUID) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM file_quota_reservations WHERE id = $1`, id); err != nil {
		return fmt.Errorf("postgres: release quota: %w", mapErr(err))
	}
	return nil
}
