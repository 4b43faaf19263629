package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

var _ files.AttemptStore = (*DB)(nil)

// TakeAttempt implements files.AttemptStore in one upsert: a window that has ended restarts.
func (db *DB) TakeAttempt(ctx context.Context, key []byte, now time.Time, window time.Duration) (int, time.Time, error) {
	var n int
	var ends time.Time
	err := db.pool.QueryRow(ctx, `INSERT INTO link_password_failures AS a (key, failures, window_ends) VALUES ($1, 1, $2::timestamptz + $3::interval)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN a.window_ends <= $2 THEN 1 ELSE a.failures + 1 END,
			window_ends = CASE WHEN a.window_ends <= $2 THEN EXCLUDED.window_ends ELSE a.window_ends END
		RETURNING failures, window_ends`, key, now, window).Scan(&n, &ends)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("postgres: take attempt: %w", mapErr(err))
	}
	return n, ends, nil
}

// ReturnAttempt implements files.AttemptStore.
func (db *DB) ReturnAttempt(ctx context.Context, key []byte) error {
	if _, err := db.pool.Exec(ctx, `UPDATE link_password_failures SET failures = greatest(failures - 1, 0) WHERE key = $1`, key); err != nil {
		return fmt.Errorf("postgres: return attempt: %w", mapErr(err))
	}
	return nil
}

// ForgetAttempts removes the attempt windows that ended before now and returns how many (the
// collector's sweep: without it, every id ever tried, known or not, would keep a row).
func (db *DB) ForgetAttempts(ctx context.Context, now time.Time) (int, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM link_password_failures WHERE window_ends < $1`, now)
	if err != nil {
		return 0, fmt.Errorf("postgres: forget attempts: %w", mapErr(err))
	}
	return int(tag.RowsAffected()), nil
}
