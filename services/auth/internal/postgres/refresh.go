package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// CreateRefreshToken implements auth.RefreshStore.
func (db *DB) CreateRefreshToken(ctx context.Context, t auth.RefreshToken) error {
	return createRefreshToken(ctx, db.pool, t)
}

func createRefreshToken(ctx context.Context, q execer, t auth.RefreshToken) error {
	_, err := q.Exec(ctx,
		`INSERT INTO refresh_tokens (id, family_id, user_id, client_id, token_hash, scope, created_at, expires_at, family_expires_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		t.ID, t.FamilyID, t.UserID, t.ClientID, t.Hash, t.Scope, t.CreatedAt, t.ExpiresAt, t.FamilyExpiresAt)
	if err != nil {
		return dbErr("create refresh token", err)
	}
	return nil
}

// RotateRefreshToken implements auth.RefreshStore. The single UPDATE ... WHERE used_at IS
// NULL takes the row lock: a concurrent rotation of the same token waits for it, then finds
// the row used and matches nothing, so at most one rotates.
func (db *DB) RotateRefreshToken(ctx context.Context, hash []byte, now, reuseSince time.Time, successor []byte, next func(auth.RefreshToken, bool) (auth.RefreshToken, error)) error {
	const returning = ` RETURNING r.id, r.family_id, r.user_id, r.client_id, r.token_hash, r.scope, r.created_at, r.expires_at, r.family_expires_at`
	scan := func(row pgx.Row, t *auth.RefreshToken) error {
		return row.Scan(&t.ID, &t.FamilyID, &t.UserID, &t.ClientID, &t.Hash, &t.Scope, &t.CreatedAt, &t.ExpiresAt, &t.FamilyExpiresAt)
	}
	reused := false
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var used auth.RefreshToken
		err := scan(tx.QueryRow(ctx,
			`UPDATE refresh_tokens r SET used_at = $2
			 FROM users u
			 WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.revoked_at IS NULL
			   AND r.expires_at > $2 AND r.family_expires_at > $2
			   AND u.id = r.user_id AND NOT u.disabled`+returning, hash, now), &used)
		if errors.Is(err, pgx.ErrNoRows) {
			// A retry within the reuse interval: the token was rotated a moment ago and its
			// successor is still untouched. The row lock (FOR UPDATE) orders it after the
			// rotation it retries.
			err := scan(tx.QueryRow(ctx,
				`SELECT r.id, r.family_id, r.user_id, r.client_id, r.token_hash, r.scope, r.created_at, r.expires_at, r.family_expires_at
				 FROM refresh_tokens r JOIN users u ON u.id = r.user_id
				 WHERE r.token_hash = $1 AND r.used_at > $3 AND r.revoked_at IS NULL AND NOT u.disabled
				   AND EXISTS (SELECT 1 FROM refresh_tokens n WHERE n.token_hash = $4 AND n.family_id = r.family_id
				               AND n.used_at IS NULL AND n.revoked_at IS NULL AND n.expires_at > $2)
				 FOR UPDATE OF r`, hash, now, reuseSince, successor), &used)
			if err == nil {
				_, err = next(used, true)
				return err
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return dbErr("rotate refresh token", err)
			}
			var family uuid.UUID
			var usedAt *time.Time
			err = tx.QueryRow(ctx, `SELECT family_id, used_at FROM refresh_tokens WHERE token_hash = $1`, hash).Scan(&family, &usedAt)
			if errors.Is(err, pgx.ErrNoRows) || (err == nil && usedAt == nil) {
				return auth.ErrInvalidGrant // unknown, revoked, expired, or its user is disabled
			}
			if err != nil {
				return dbErr("rotate refresh token", err)
			}
			// Replay of a used token: someone else may hold the family. End it.
			if err := revokeFamily(ctx, tx, family, now); err != nil {
				return err
			}
			reused = true
			return nil
		}
		if err != nil {
			return dbErr("rotate refresh token", err)
		}
		n, err := next(used, false)
		if err != nil {
			return err
		}
		return createRefreshToken(ctx, tx, n)
	})
	if err != nil {
		return dbErr("rotate refresh token", err)
	}
	if reused {
		return auth.ErrRefreshReused
	}
	return nil
}

func revokeFamily(ctx context.Context, q execer, family uuid.UUID, now time.Time) error {
	if _, err := q.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`, family, now); err != nil {
		return dbErr("revoke refresh family", err)
	}
	return nil
}

// RevokeRefreshFamily implements auth.RefreshStore.
func (db *DB) RevokeRefreshFamily(ctx context.Context, hash []byte, now time.Time) error {
	_, err := db.pool.Exec(ctx,
		`UPDATE refresh_tokens SET revoked_at = $2
		 WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1) AND revoked_at IS NULL`, hash, now)
	if err != nil {
		return dbErr("revoke refresh family", err)
	}
	return nil
}

// DeleteExpiredRefreshTokens implements auth.RefreshStore.
func (db *DB) DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM refresh_tokens WHERE family_expires_at < $1`, now)
	if err != nil {
		return 0, dbErr("delete expired refresh tokens", err)
	}
	return tag.RowsAffected(), nil
}
