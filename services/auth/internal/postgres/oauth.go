package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// CreateCode implements auth.CodeStore.
func (db *DB) CreateCode(ctx context.Context, c auth.AuthCode) error {
	_, err := db.pool.Exec(ctx,
		`INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, code_challenge, scope, created_at, expires_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		c.Hash, c.ClientID, c.UserID, c.RedirectURI, c.CodeChallenge, c.Scope, c.CreatedAt, c.ExpiresAt)
	if err != nil {
		return dbErr("create code", err)
	}
	return nil
}

// ConsumeCode implements auth.CodeStore. The UPDATE ... WHERE used_at IS NULL takes the row
// lock, so of two presentations exactly one consumes the code.
func (db *DB) ConsumeCode(ctx context.Context, hash []byte, now time.Time) (auth.AuthCode, error) {
	var c auth.AuthCode
	reused := false
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx,
			`UPDATE authorization_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL
			 RETURNING code_hash, client_id, user_id, redirect_uri, code_challenge, scope, created_at, expires_at`, hash, now).
			Scan(&c.Hash, &c.ClientID, &c.UserID, &c.RedirectURI, &c.CodeChallenge, &c.Scope, &c.CreatedAt, &c.ExpiresAt)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return dbErr("consume code", err)
		}
		var family *uuid.UUID
		err = tx.QueryRow(ctx,
			`UPDATE authorization_codes SET replayed_at = coalesce(replayed_at, $2) WHERE code_hash = $1 RETURNING family_id`, hash, now).Scan(&family)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrInvalidGrant
		}
		if err != nil {
			return dbErr("consume code", err)
		}
		reused = true
		if family != nil {
			return revokeFamily(ctx, tx, *family, now)
		}
		return nil
	})
	if err != nil {
		return auth.AuthCode{}, err
	}
	if reused {
		return auth.AuthCode{}, auth.ErrCodeReused
	}
	return c, nil
}

// StoreCodeTokens implements auth.CodeStore. Updating the code row first takes its lock, so
// a replay either comes before (and this matches nothing) or after (and revokes the family
// stored here).
func (db *DB) StoreCodeTokens(ctx context.Context, hash []byte, rt auth.RefreshToken) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE authorization_codes a SET family_id = $2 FROM users u
			 WHERE a.code_hash = $1 AND a.replayed_at IS NULL AND a.family_id IS NULL AND u.id = a.user_id AND NOT u.disabled`,
			hash, rt.FamilyID)
		if err != nil {
			return dbErr("store code tokens", err)
		}
		if tag.RowsAffected() != 1 {
			return auth.ErrInvalidGrant
		}
		return createRefreshToken(ctx, tx, rt)
	})
}

// DeleteExpiredCodes implements auth.CodeStore.
func (db *DB) DeleteExpiredCodes(ctx context.Context, t time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM authorization_codes WHERE expires_at < $1`, t)
	if err != nil {
		return 0, dbErr("delete expired codes", err)
	}
	return tag.RowsAffected(), nil
}

// CreateSession implements auth.SessionStore.
func (db *DB) CreateSession(ctx context.Context, s auth.Session) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO auth_sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		s.Hash, s.UserID, s.CreatedAt, s.ExpiresAt)
	if err != nil {
		return dbErr("create session", err)
	}
	return nil
}

// SessionUser implements auth.SessionStore.
func (db *DB) SessionUser(ctx context.Context, hash []byte, now time.Time) (auth.User, error) {
	var u auth.User
	err := db.pool.QueryRow(ctx,
		`SELECT u.id, u.username, u.password_hash, u.disabled, u.created_at
		 FROM auth_sessions s JOIN users u ON u.id = s.user_id
		 WHERE s.token_hash = $1 AND s.expires_at > $2 AND NOT u.disabled`, hash, now).
		Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Disabled, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.User{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.User{}, dbErr("session user", err)
	}
	return u, nil
}

// DeleteSession implements auth.SessionStore.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM auth_sessions WHERE token_hash = $1`, hash); err != nil {
		return dbErr("delete session", err)
	}
	return nil
}

// DeleteExpiredSessions implements auth.SessionStore.
func (db *DB) DeleteExpiredSessions(ctx context.Context, t time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM auth_sessions WHERE expires_at < $1`, t)
	if err != nil {
		return 0, dbErr("delete expired sessions", err)
	}
	return tag.RowsAffected(), nil
}
