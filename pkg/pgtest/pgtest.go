// Package pgtest gives every test its own database on a real PostgreSQL server.
//
// A test binary calls Main from TestMain. If DATABASE_URL is set, Main uses that server;
// otherwise it starts a throwaway cluster (package pgcluster) for the life of the binary.
// NewDatabase then creates a fresh, empty database for one test and drops it afterwards;
// NewMigratedDatabase a fresh copy of a database migrated once per test binary.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/pgcluster"
)

// adminURL is the server every NewDatabase call uses. It is set once, by Main, before any
// test runs, and only read afterwards.
var adminURL string

// Main runs the tests of a package against a real PostgreSQL and exits with their status.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main for a TestMain that has more to clean up: it returns the exit status.
func Run(m interface{ Run() int }) int {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		adminURL = u
		code := m.Run()
		dropTemplates()
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	adminURL = c.DSN("postgres")
	code := m.Run()
	dropTemplates()
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
	}
	return code
}

// NewDatabase creates an empty database for this test, drops it when the test ends, and
// returns its connection string.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	return newDatabase(tb, "")
}

// NewMigratedDatabase is NewDatabase with the schema migrate makes. migrate runs once per test
// binary and key, in a template database that each call then copies: a copy costs a fraction
// of running the migrations again, which adds up when a package's tests make dozens of
// databases and a mutation test runs them once per mutant. The template is dropped when the
// binary's tests end (Run).
func NewMigratedDatabase(tb testing.TB, key string, migrate func(context.Context, *pgxpool.Pool) error) string {
	tb.Helper()
	tmpl := templateFor(key)
	tmpl.once.Do(func() { tmpl.name, tmpl.err = makeTemplate(migrate) })
	if tmpl.err != nil {
		tb.Fatalf("pgtest: template %q: %v", key, tmpl.err)
	}
	return newDatabase(tb, tmpl.name)
}

// template is one migrated template database of this test binary.
type template struct {
	once sync.Once
	name string
	err  error
}

// templates are this binary's template databases by key; written under templatesMu, and
// dropped by Run when the tests end.
var (
	templatesMu sync.Mutex
	templates   = map[string]*template{}
)

func templateFor(key string) *template {
	templatesMu.Lock()
	defer templatesMu.Unlock()
	t, ok := templates[key]
	if !ok {
		t = &template{}
		templates[key] = t
	}
	return t
}

// makeTemplate creates a database, migrates it and closes every connection to it (a template
// with a session open cannot be copied).
func makeTemplate(migrate func(context.Context, *pgxpool.Pool) error) (string, error) {
	if adminURL == "" {
		return "", errors.New("call pgtest.Main(m) from TestMain")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := randomName("tmpl_")
	if err := createDatabase(ctx, name, ""); err != nil {
		return "", err
	}
	pool, err := pgxpool.New(ctx, withDatabase(adminURL, name))
	if err != nil {
		return name, err
	}
	defer pool.Close()
	return name, migrate(ctx, pool)
}

// dropTemplates drops the template databases made by this binary.
func dropTemplates() {
	templatesMu.Lock()
	defer templatesMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, t := range templates {
		if t.name == "" {
			continue
		}
		if err := dropDatabase(ctx, t.name); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
}

func newDatabase(tb testing.TB, from string) string {
	tb.Helper()
	if adminURL == "" {
		tb.Fatal("pgtest: call pgtest.Main(m) from TestMain")
	}
	name := randomName("test_")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := createDatabase(ctx, name, from); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dropDatabase(ctx, name); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return withDatabase(adminURL, name)
}

func randomName(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// createDatabase creates database name, a copy of from (template1 when ""). From PostgreSQL 15
// on it copies the files (STRATEGY FILE_COPY), which for a small test database takes less than
// half the server's CPU of the default, WAL-logged copy.
func createDatabase(ctx context.Context, name, from string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	sql := "CREATE DATABASE " + name
	if from != "" {
		sql += " TEMPLATE " + from
	}
	var version int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	if version >= 150000 {
		sql += " STRATEGY FILE_COPY"
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func dropDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect for cleanup: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop %s: %w", name, err)
	}
	return nil
}

// withDatabase swaps the database name in a connection string (URL or key=value form).
func withDatabase(dsn, name string) string {
	u, err := url.Parse(dsn)
	if err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	return dsn + " dbname=" + name
}
