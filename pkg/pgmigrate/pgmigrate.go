// Package pgmigrate applies a service's embedded SQL migrations to PostgreSQL.
//
// Migrations are files named NNNN_description.sql, applied in order, each in its own
// transaction, and recorded in a per-service table. Each migration's transaction holds a
// PostgreSQL advisory lock, so nodes that start together (or a Kubernetes migrate Job racing a
// node) apply each migration exactly once, also through a transaction pooler.
package pgmigrate

import (
	"context"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Apply runs every migration in fsys (the *.sql files at its root) that table does not yet
// record. It returns the number applied.
func Apply(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, table string) (int, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return 0, fmt.Errorf("pgmigrate: %w", err)
	}
	slices.Sort(names)
	for _, n := range names {
		if _, err := version(n); err != nil {
			return 0, err
		}
	}

	h := fnv.New64a()
	h.Write([]byte("coffer-migrate:" + table))
	lockID := int64(h.Sum64())
	ident := pgx.Identifier{table}.Sanitize()

	// Each migration runs in a transaction that first takes a transaction-level advisory lock
	// (the same key a session lock of an older release takes, so the two exclude each other)
	// and then checks whether it is applied: exactly once across nodes, and no session state,
	// so it works through a transaction pooler such as PgBouncer.
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+ident+
			" (version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
		return err
	}); err != nil {
		return 0, fmt.Errorf("pgmigrate: create %s: %w", table, err)
	}

	applied := 0
	for _, n := range names {
		v, _ := version(n)
		sql, err := fs.ReadFile(fsys, n)
		if err != nil {
			return applied, fmt.Errorf("pgmigrate: %w", err)
		}
		var ran bool
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockID); err != nil {
				return err
			}
			var done bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+ident+" WHERE version = $1)", v).Scan(&done); err != nil || done {
				return err
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			ran = true
			_, err := tx.Exec(ctx, "INSERT INTO "+ident+" (version, name) VALUES ($1, $2)", v, n)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("pgmigrate: %s: %w", n, err)
		}
		if ran {
			applied++
		}
	}
	return applied, nil
}

func version(name string) (int64, error) {
	base := path.Base(name)
	num, _, ok := strings.Cut(base, "_")
	v, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil {
		return 0, fmt.Errorf("pgmigrate: %q is not named NNNN_description.sql", name)
	}
	return v, nil
}
