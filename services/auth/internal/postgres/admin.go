package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

var _ auth.AdminStore = (*DB)(nil)

// UserClaims implements auth.AdminStore.
func (db *DB) UserClaims(ctx context.Context, userID uuid.UUID, clientID string) (auth.TokenUser, error) {
	return tokenUser(db.pool.QueryRow(ctx,
		`SELECT u.username, u.admin AND NOT u.disabled
		   AND ($2 = $3 OR EXISTS (SELECT 1 FROM clients c WHERE c.id = $2 AND c.admin_role AND NOT c.disabled))
		 FROM users u WHERE u.id = $1`,
		userID, clientID, auth.FirstPartyClientID), "user claims")
}

// RefreshClaims implements auth.AdminStore.
func (db *DB) RefreshClaims(ctx context.Context, hash []byte) (auth.TokenUser, error) {
	return tokenUser(db.pool.QueryRow(ctx,
		`SELECT u.username, u.admin AND NOT u.disabled
		   AND (r.client_id = $2 OR EXISTS (SELECT 1 FROM clients c WHERE c.id = r.client_id AND c.admin_role AND NOT c.disabled))
		 FROM refresh_tokens r JOIN users u ON u.id = r.user_id WHERE r.token_hash = $1`,
		hash, auth.FirstPartyClientID), "refresh claims")
}

// tokenUser scans a username and whether the token carries the admin role; no row is a
// user (or token) that is not there, whose token says nothing of them.
func tokenUser(row pgx.Row, what string) (auth.TokenUser, error) {
	var tu auth.TokenUser
	var admin bool
	err := row.Scan(&tu.Username, &admin)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.TokenUser{}, nil
	}
	if err != nil {
		return auth.TokenUser{}, dbErr(what, err)
	}
	if admin {
		tu.Roles = []string{auth.RoleAdmin}
	}
	return tu, nil
}

// SetAdmin implements auth.AdminStore.
func (db *DB) SetAdmin(ctx context.Context, username string, admin bool) error {
	tag, err := db.pool.Exec(ctx, `UPDATE users SET admin = $2 WHERE username = $1`, username, admin)
	if err != nil {
		return dbErr("set admin", err)
	}
	if tag.RowsAffected() == 0 {
		return auth.ErrNotFound
	}
	return nil
}

const adminUserColumns = `id, username, password_hash, disabled, created_at, admin`

func scanAdminUser(row pgx.Row) (auth.User, error) {
	var u auth.User
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Disabled, &u.CreatedAt, &u.Admin)
	return u, err
}

// ListUsers implements auth.AdminStore.
func (db *DB) ListUsers(ctx context.Context, q auth.UserQuery) ([]auth.User, error) {
	rows, err := db.pool.Query(ctx,
		`SELECT `+adminUserColumns+` FROM users
		 WHERE username > $1 AND strpos(username, $2) > 0
		 ORDER BY username LIMIT $3`, q.After, q.Search, q.Limit)
	if err != nil {
		return nil, dbErr("list users", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.User, error) { return scanAdminUser(r) })
	if err != nil {
		return nil, dbErr("list users", err)
	}
	return out, nil
}

// AdminUser implements auth.AdminStore.
func (db *DB) AdminUser(ctx context.Context, id uuid.UUID) (auth.User, error) {
	u, err := scanAdminUser(db.pool.QueryRow(ctx, `SELECT `+adminUserColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.User{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.User{}, dbErr("user by id", err)
	}
	return u, nil
}

// EnableUser implements auth.AdminStore.
func (db *DB) EnableUser(ctx context.Context, id uuid.UUID) error {
	return db.execOne(ctx, "enable user", `UPDATE users SET disabled = false WHERE id = $1`, id)
}

// DeleteUser implements auth.AdminStore. Refresh tokens, codes and sessions go with the row
// (ON DELETE CASCADE).
func (db *DB) DeleteUser(ctx context.Context, id uuid.UUID) error {
	return db.execOne(ctx, "delete user", `DELETE FROM users WHERE id = $1`, id)
}

// RevokeUserTokens implements auth.AdminStore.
func (db *DB) RevokeUserTokens(ctx context.Context, id uuid.UUID, now time.Time) (int64, error) {
	var families int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx,
			`WITH r AS (UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL RETURNING family_id)
			 SELECT count(DISTINCT family_id) FROM r`, id, now).Scan(&families)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM auth_sessions WHERE user_id = $1`, id)
		return err
	})
	if err != nil {
		return 0, dbErr("revoke user tokens", err)
	}
	return families, nil
}

// ListClients implements auth.AdminStore.
func (db *DB) ListClients(ctx context.Context) ([]auth.Client, error) {
	rows, err := db.pool.Query(ctx,
		`SELECT id, secret_hash, scopes, disabled, created_at, redirect_uris, allowed_origins, admin_role FROM clients ORDER BY id`)
	if err != nil {
		return nil, dbErr("list clients", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.Client, error) {
		var c auth.Client
		var scopes string
		err := r.Scan(&c.ID, &c.SecretHash, &scopes, &c.Disabled, &c.CreatedAt, &c.RedirectURIs, &c.Origins, &c.AdminRole)
		c.Scopes = strings.Fields(scopes)
		return c, err
	})
	if err != nil {
		return nil, dbErr("list clients", err)
	}
	return out, nil
}

// SetClientDisabled implements auth.AdminStore.
func (db *DB) SetClientDisabled(ctx context.Context, id string, disabled bool, now time.Time) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE clients SET disabled = $2 WHERE id = $1`, id, disabled)
		if err != nil {
			return dbErr("disable client", err)
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrNotFound
		}
		if disabled {
			return revokeClientTokens(ctx, tx, id, now)
		}
		return nil
	})
}

// DeleteClient implements auth.AdminStore. Its codes go with the row (ON DELETE CASCADE);
// refresh tokens name clients without a foreign key, so they are deleted here.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
		if err != nil {
			return dbErr("delete client", err)
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE client_id = $1`, id); err != nil {
			return dbErr("delete client's refresh tokens", err)
		}
		return nil
	})
}

// SetClientSecret implements auth.AdminStore.
func (db *DB) SetClientSecret(ctx context.Context, id string, hash []byte, now time.Time) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE clients SET secret_hash = $2 WHERE id = $1 AND secret_hash IS NOT NULL`, id, hash)
		if err != nil {
			return dbErr("set client secret", err)
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrNotFound
		}
		return revokeClientTokens(ctx, tx, id, now)
	})
}

func revokeClientTokens(ctx context.Context, q execer, id string, now time.Time) error {
	if _, err := q.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL`, id, now); err != nil {
		return dbErr("revoke client's refresh tokens", err)
	}
	return nil
}

// execOne runs a statement that must change exactly one row; ErrNotFound when it changes none.
func (db *DB) execOne(ctx context.Context, what, sql string, args ...any) error {
	tag, err := db.pool.Exec(ctx, sql, args...)
	if err != nil {
		return dbErr(what, err)
	}
	if tag.RowsAffected() == 0 {
		return auth.ErrNotFound
	}
	return nil
}
