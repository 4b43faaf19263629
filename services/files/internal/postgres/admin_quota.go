package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// UserQuota implements api.Quotas.
func (db *DB) UserQuota(ctx context.Context, userID string) (*int64, int64, error) {
	var q *int64
	var used int64
	err := db.pool.QueryRow(ctx, `SELECT quota_bytes, used_bytes FROM file_usage WHERE owner_id = $1`, userID).Scan(&q, &used)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: user quota: %w", mapErr(err))
	}
	return q, used, nil
}

// SetUserQuota implements api.Quotas.
func (db *DB) SetUserQuota(ctx context.Context, userID string, quota *int64) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO file_usage (owner_id, quota_bytes) VALUES ($1, $2)
		ON CONFLICT (owner_id) DO UPDATE SET quota_bytes = EXCLUDED.quota_bytes`, userID, quota)
	if err != nil {
		return fmt.Errorf("postgres: set user quota: %w", mapErr(err))
	}
	return nil
}
