package auth_test

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/pgtest"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"github.com/cofferhq/coffer/services/auth/internal/keys"
	"github.com/cofferhq/coffer/services/auth/internal/password"
	"github.com/cofferhq/coffer/services/auth/internal/postgres"
)

// cheap argon2 parameters keep the tests fast; the timing and storm tests use costlier ones.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

// clock is a settable clock shared by a test's services.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one database with the stores, a key manager and a clock.
type env struct {
	t     testing.TB
	pool  *pgxpool.Pool
	db    *postgres.DB
	keys  *keys.Manager
	clock *clock
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewMigratedDatabase(t, "auth", func(ctx context.Context, p *pgxpool.Pool) error {
		_, err := postgres.Migrate(ctx, p)
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db := postgres.New(pool)
	kek := make([]byte, 32)
	rand.Read(kek)
	km, err := keys.NewManager(db, keys.Options{KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, pool: pool, db: db, keys: km, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}}
}

// service returns a new Service on the env's database (as another replica would be).
func (e *env) service(cfg auth.Config, params password.Params) *auth.Service {
	issuer := keys.NewIssuer(e.keys, "https://auth.test", "coffer-files", 15*time.Minute, nil)
	st := auth.Stores{Users: e.db, Refresh: e.db, Clients: e.db, Throttle: e.db, Codes: e.db, Sessions: e.db,
		TOTP: e.db, Identities: e.db, Invitations: e.db, Account: e.db, Admin: e.db}
	return auth.NewService(st, password.NewHasher(params, 4), issuer, cfg, e.clock.Now)
}

// user creates a user and returns the password.
func (e *env) user(svc *auth.Service, name string) string {
	e.t.Helper()
	pw := "pw-" + name + "-long-enough"
	if _, err := svc.CreateUser(context.Background(), name, pw); err != nil {
		e.t.Fatal(err)
	}
	return pw
}

// claims verifies an access token with the env's keys and returns its claims.
func (e *env) claims(tok string) *accesstoken.Claims {
	e.t.Helper()
	var c accesstoken.Claims
	_, err := jwt.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		k, err := e.keys.SigningKey()
		if err != nil {
			return nil, err
		}
		return &k.Private.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		e.t.Fatalf("access token does not verify: %v", err)
	}
	return &c
}
