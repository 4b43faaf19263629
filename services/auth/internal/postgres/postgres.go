// Package postgres stores the auth service's users, clients, signing keys, refresh tokens,
// authorization codes and sign-in sessions in PostgreSQL with pgx, and carries the service's
// schema migrations.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/pgerror"
	"github.com/cofferhq/coffer/pkg/pgmigrate"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"github.com/cofferhq/coffer/services/auth/internal/keys"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationsTable records which migrations the auth service has applied.
const MigrationsTable = "auth_schema_migrations"

// DB is the auth service's PostgreSQL storage.
type DB struct {
	pool *pgxpool.Pool
}

var (
	_ auth.UserStore     = (*DB)(nil)
	_ auth.RefreshStore  = (*DB)(nil)
	_ auth.ClientStore   = (*DB)(nil)
	_ auth.ThrottleStore = (*DB)(nil)
	_ auth.CodeStore     = (*DB)(nil)
	_ auth.SessionStore  = (*DB)(nil)
	_ keys.Store         = (*DB)(nil)
)

// New wraps a pool.
func New(pool *pgxpool.Pool) *DB { return &DB{pool: pool} }

// Migrate applies the embedded migrations under an advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return 0, err
	}
	return pgmigrate.Apply(ctx, pool, sub, MigrationsTable)
}

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// CreateUser implements auth.UserStore.
func (db *DB) CreateUser(ctx context.Context, u auth.User) error {
	_, err := db.pool.Exec(ctx,
		`INSERT INTO users (id, username, password_hash, disabled, created_at) VALUES ($1, $2, $3, $4, $5)`,
		u.ID, u.Username, u.PasswordHash, u.Disabled, u.CreatedAt)
	if isUniqueViolation(err) {
		return auth.ErrUsernameTaken
	}
	if err != nil {
		return dbErr("create user", err)
	}
	return nil
}

// UserByUsername implements auth.UserStore.
func (db *DB) UserByUsername(ctx context.Context, username string) (auth.User, error) {
	var u auth.User
	err := db.pool.QueryRow(ctx,
		`SELECT id, username, password_hash, disabled, created_at FROM users WHERE username = $1`, username).
		Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Disabled, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.User{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.User{}, dbErr("user by username", err)
	}
	return u, nil
}

// ListKeys implements keys.Store.
func (db *DB) ListKeys(ctx context.Context) ([]keys.Sealed, error) {
	rows, err := db.pool.Query(ctx,
		`SELECT kid, state, sealed, created_at, activated_at, retired_at, activate_at FROM signing_keys ORDER BY created_at`)
	if err != nil {
		return nil, dbErr("list keys", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (keys.Sealed, error) {
		var k keys.Sealed
		err := r.Scan(&k.ID, &k.State, &k.Sealed, &k.CreatedAt, &k.ActivatedAt, &k.RetiredAt, &k.ActivateAt)
		return k, err
	})
	if err != nil {
		return nil, dbErr("list keys", err)
	}
	return out, nil
}

// InsertActiveIfNone implements keys.Store. The partial unique index on the active state
// makes racing replicas leave exactly one active key.
func (db *DB) InsertActiveIfNone(ctx context.Context, k keys.Sealed) (bool, error) {
	tag, err := db.pool.Exec(ctx,
		`INSERT INTO signing_keys (kid, state, sealed, created_at, activated_at)
		 VALUES ($1, 'active', $2, $3, $4) ON CONFLICT DO NOTHING`,
		k.ID, k.Sealed, k.CreatedAt, k.ActivatedAt)
	if err != nil {
		return false, dbErr("insert key", err)
	}
	return tag.RowsAffected() == 1, nil
}

// InsertNextIfNone implements keys.Store, through the partial unique index on the next state.
func (db *DB) InsertNextIfNone(ctx context.Context, k keys.Sealed) (bool, error) {
	tag, err := db.pool.Exec(ctx,
		`INSERT INTO signing_keys (kid, state, sealed, created_at, activate_at)
		 VALUES ($1, 'next', $2, $3, $4) ON CONFLICT DO NOTHING`,
		k.ID, k.Sealed, k.CreatedAt, k.ActivateAt)
	if err != nil {
		return false, dbErr("insert next key", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Promote implements keys.Store. The first UPDATE takes the active row's lock; a racing
// replica waits for it, then finds the row no longer active and gives up.
func (db *DB) Promote(ctx context.Context, activeID, nextID string, now time.Time) (bool, error) {
	errLost := errors.New("lost the race")
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE signing_keys SET state = 'retired', retired_at = $2 WHERE kid = $1 AND state = 'active'`, activeID, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return errLost
		}
		tag, err = tx.Exec(ctx, `UPDATE signing_keys SET state = 'active', activated_at = $2, activate_at = NULL WHERE kid = $1 AND state = 'next'`, nextID, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return errLost
		}
		return nil
	})
	if errors.Is(err, errLost) {
		return false, nil
	}
	if err != nil {
		return false, dbErr("promote key", err)
	}
	return true, nil
}

// ScheduleNext implements keys.Store.
func (db *DB) ScheduleNext(ctx context.Context, kid string, at time.Time) error {
	_, err := db.pool.Exec(ctx,
		`UPDATE signing_keys SET activate_at = $2 WHERE kid = $1 AND state = 'next' AND (activate_at IS NULL OR activate_at > $2)`, kid, at)
	if err != nil {
		return dbErr("schedule key", err)
	}
	return nil
}

// RemoveRetired implements keys.Store.
func (db *DB) RemoveRetired(ctx context.Context, retiredBy time.Time) ([]string, error) {
	rows, err := db.pool.Query(ctx, `DELETE FROM signing_keys WHERE state = 'retired' AND retired_at <= $1 RETURNING kid`, retiredBy)
	if err != nil {
		return nil, dbErr("remove retired keys", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, dbErr("remove retired keys", err)
	}
	return ids, nil
}

func isUniqueViolation(err error) bool { return pgerror.UniqueViolation(err) }

// dbErr wraps a storage error for op, marking an unreachable database as
// auth.ErrUnavailable so the API answers 503 with Retry-After, as the file service does.
func dbErr(op string, err error) error {
	if pgerror.Transient(err) {
		return fmt.Errorf("postgres: %s: %w: %w", op, auth.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
