package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/pgtest"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"github.com/cofferhq/coffer/services/auth/internal/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newDB returns the auth storage on a fresh, migrated database. Every connection the store
// took must be back in the pool when the test ends: a query whose rows are left open holds
// its connection, which the test reports (instead of hanging in pool.Close, or in a later
// Acquire once the pool is used up: the pool is large enough for a test to run to its end).
func newDB(t *testing.T) *postgres.DB {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewMigratedDatabase(t, "auth", migrate))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 32
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := pool.Stat().AcquiredConns(); n != 0 {
			t.Errorf("%d connections still taken when the test ended: a query's rows were left open", n)
			return // pool.Close would wait for them for ever
		}
		pool.Close()
	})
	return postgres.New(pool)
}

// migrate makes the schema of pgtest's template database (copied for every test).
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := postgres.Migrate(ctx, pool)
	return err
}

func newUser(t *testing.T, db *postgres.DB, name string) auth.User {
	t.Helper()
	u := auth.User{ID: uuid.New(), Username: name, PasswordHash: "x", CreatedAt: time.Now().UTC()}
	if err := db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// The CORS check of the auth service trusts exactly the registered origins: never a prefix,
// a suffix, another case or a disabled client's.
func TestOriginAllowedIsExact(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	if err := db.CreateClient(ctx, auth.Client{ID: "web", Scopes: []string{"files:read"}, CreatedAt: time.Now(),
		RedirectURIs: []string{"https://app.example.com/cb"}, Origins: []string{"https://app.example.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(ctx, auth.Client{ID: "off", Scopes: []string{"files:read"}, CreatedAt: time.Now(), Disabled: true,
		Origins: []string{"https://off.example.com"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		origin string
		want   bool
	}{
		{"https://app.example.com", true},
		{"https://app.example.co", false},
		{"https://app.example.com.evil.net", false},
		{"https://app.example.com:443", false},
		{"HTTPS://APP.EXAMPLE.COM", false},
		{"http://app.example.com", false},
		{"https://", false},
		{"", false},
		{"https://off.example.com", false},
	} {
		got, err := db.OriginAllowed(ctx, tc.origin)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("OriginAllowed(%q) = %v, want %v", tc.origin, got, tc.want)
		}
	}
}

// A code is consumed by its first presentation, whatever the outcome of the exchange: the
// second presentation is a replay, and an unknown code is an invalid grant.
func TestConsumeCodeOnce(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	alice := newUser(t, db, "alice")
	if err := db.CreateClient(ctx, auth.Client{ID: "app", Scopes: []string{"files:read"}, CreatedAt: time.Now(),
		RedirectURIs: []string{"https://app.example.com/cb"}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	code := auth.AuthCode{Hash: auth.HashSecret("code-1"), ClientID: "app", UserID: alice.ID,
		RedirectURI: "https://app.example.com/cb", CodeChallenge: "challenge", Scope: "files:read",
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := db.CreateCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	got, err := db.ConsumeCode(ctx, code.Hash, now)
	if err != nil {
		t.Fatalf("first presentation: %v", err)
	}
	if got.UserID != alice.ID || got.ClientID != "app" || got.CodeChallenge != "challenge" || got.RedirectURI != code.RedirectURI {
		t.Fatalf("consumed code = %+v, want the stored one", got)
	}
	if _, err := db.ConsumeCode(ctx, code.Hash, now); !errors.Is(err, auth.ErrCodeReused) {
		t.Fatalf("second presentation: err = %v, want ErrCodeReused", err)
	}
	if _, err := db.ConsumeCode(ctx, code.Hash, now); !errors.Is(err, auth.ErrCodeReused) {
		t.Fatalf("third presentation: err = %v, want ErrCodeReused", err)
	}
	if _, err := db.ConsumeCode(ctx, auth.HashSecret("never-issued"), now); !errors.Is(err, auth.ErrInvalidGrant) || errors.Is(err, auth.ErrCodeReused) {
		t.Fatalf("unknown code: err = %v, want ErrInvalidGrant (not a replay)", err)
	}
}

// Two concurrent presentations of one code: exactly one consumes it.
func TestConsumeCodeConcurrentlyExactlyOnce(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	alice := newUser(t, db, "alice")
	if err := db.CreateClient(ctx, auth.Client{ID: "app", Scopes: []string{"files:read"}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	hash := auth.HashSecret("code-2")
	if err := db.CreateCode(ctx, auth.AuthCode{Hash: hash, ClientID: "app", UserID: alice.ID, RedirectURI: "https://a/cb",
		CodeChallenge: "c", Scope: "files:read", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			_, err := db.ConsumeCode(ctx, hash, now)
			errs <- err
		}()
	}
	close(start)
	wins := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			wins++
		case errors.Is(err, auth.ErrCodeReused):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d presentations consumed the code, want exactly 1", wins)
	}
}
