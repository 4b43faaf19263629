package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// DisableUser implements auth.UserStore.
func (db *DB) DisableUser(ctx context.Context, username string, now time.Time) error {
	return db.changeUser(ctx, `UPDATE users SET disabled = true WHERE username = $1 RETURNING id`, now, username)
}

// SetPasswordHash implements auth.UserStore.
func (db *DB) SetPasswordHash(ctx context.Context, username, hash string, now time.Time) error {
	return db.changeUser(ctx, `UPDATE users SET password_hash = $2 WHERE username = $1 RETURNING id`, now, username, hash)
}

// changeUser runs an UPDATE of one user that returns its id, then revokes the user's refresh
// tokens and ends their sign-in sessions, in one transaction.
func (db *DB) changeUser(ctx context.Context, update string, now time.Time, args ...any) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, update, args...)
		if err != nil {
			return dbErr("update user", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[[16]byte])
		if err != nil {
			return dbErr("update user", err)
		}
		if len(ids) == 0 {
			return auth.ErrNotFound
		}
		if _, err := tx.Exec(ctx,
			`UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, ids[0], now); err != nil {
			return dbErr("revoke user's refresh tokens", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth_sessions WHERE user_id = $1`, ids[0]); err != nil {
			return dbErr("end user's sessions", err)
		}
		return nil
	})
}
