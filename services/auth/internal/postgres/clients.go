package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// CreateClient implements auth.ClientStore.
func (db *DB) CreateClient(ctx context.Context, c auth.Client) error {
	_, err := db.pool.Exec(ctx,
		`INSERT INTO clients (id, secret_hash, scopes, disabled, created_at, redirect_uris, allowed_origins, admin_role)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		c.ID, c.SecretHash, strings.Join(c.Scopes, " "), c.Disabled, c.CreatedAt, nonNil(c.RedirectURIs), nonNil(c.Origins), c.AdminRole)
	if isUniqueViolation(err) {
		return auth.ErrClientExists
	}
	if err != nil {
		return dbErr("create client", err)
	}
	return nil
}

// ClientByID implements auth.ClientStore.
func (db *DB) ClientByID(ctx context.Context, id string) (auth.Client, error) {
	var c auth.Client
	var scopes string
	err := db.pool.QueryRow(ctx,
		`SELECT id, secret_hash, scopes, disabled, created_at, redirect_uris, allowed_origins, admin_role FROM clients WHERE id = $1`, id).
		Scan(&c.ID, &c.SecretHash, &scopes, &c.Disabled, &c.CreatedAt, &c.RedirectURIs, &c.Origins, &c.AdminRole)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Client{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.Client{}, dbErr("client by id", err)
	}
	c.Scopes = strings.Fields(scopes)
	return c, nil
}

// OriginAllowed implements auth.ClientStore.
func (db *DB) OriginAllowed(ctx context.Context, origin string) (bool, error) {
	var ok bool
	err := db.pool.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM clients WHERE allowed_origins @> ARRAY[$1::text] AND NOT disabled)`, origin).Scan(&ok)
	if err != nil {
		return false, dbErr("origin allowed", err)
	}
	return ok, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CountLoginAttempt implements auth.ThrottleStore. Keys are upserted in sorted order so two
// attempts touching the same keys cannot deadlock.
func (db *DB) CountLoginAttempt(ctx context.Context, keys []string, now, windowStartedBefore time.Time) ([]auth.Attempts, error) {
	rows, err := db.pool.Query(ctx,
		`INSERT INTO login_throttle AS t (key, window_start, attempts)
		 SELECT k, $2, 1 FROM unnest($1::text[]) AS k ORDER BY k
		 ON CONFLICT (key) DO UPDATE SET
		   attempts     = CASE WHEN t.window_start <= $3 THEN 1 ELSE t.attempts + 1 END,
		   window_start = CASE WHEN t.window_start <= $3 THEN $2 ELSE t.window_start END
		 RETURNING key, attempts, window_start`, keys, now, windowStartedBefore)
	if err != nil {
		return nil, dbErr("count login attempt", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.Attempts, error) {
		var a auth.Attempts
		err := r.Scan(&a.Key, &a.Count, &a.WindowStart)
		return a, err
	})
	if err != nil {
		return nil, dbErr("count login attempt", err)
	}
	return out, nil
}

// ForgetLoginAttempt implements auth.ThrottleStore.
func (db *DB) ForgetLoginAttempt(ctx context.Context, key string, reset bool) error {
	var err error
	if reset {
		_, err = db.pool.Exec(ctx, `DELETE FROM login_throttle WHERE key = $1`, key)
	} else {
		_, err = db.pool.Exec(ctx, `UPDATE login_throttle SET attempts = greatest(attempts - 1, 0) WHERE key = $1`, key)
	}
	if err != nil {
		return dbErr("forget login attempt", err)
	}
	return nil
}

// DeleteLoginAttempts implements auth.ThrottleStore.
func (db *DB) DeleteLoginAttempts(ctx context.Context, t time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM login_throttle WHERE window_start <= $1`, t)
	if err != nil {
		return 0, dbErr("delete login attempts", err)
	}
	return tag.RowsAffected(), nil
}
