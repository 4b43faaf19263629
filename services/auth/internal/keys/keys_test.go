package keys_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/pgtest"
	"github.com/cofferhq/coffer/services/auth/internal/keys"
	"github.com/cofferhq/coffer/services/auth/internal/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var rotation = keys.Rotation{Interval: time.Hour, PublishLead: 10 * time.Minute, RetainAfterRetire: 20 * time.Minute}

func newDB(t *testing.T) (*pgxpool.Pool, *postgres.DB) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return pool, postgres.New(pool)
}

func newManager(t *testing.T, db *postgres.DB, kek []byte, c *clock) *keys.Manager {
	t.Helper()
	m, err := keys.NewManager(db, keys.Options{KEK: kek, Now: c.Now, Rotation: rotation})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// published returns the kids in a manager's JWKS.
func published(t *testing.T, m *keys.Manager) map[string]bool {
	t.Helper()
	body, _ := m.JWKS()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, k := range set.Keys {
		out[k["kid"].(string)] = true
	}
	return out
}

func signingKID(t *testing.T, m *keys.Manager, c *clock) string {
	t.Helper()
	tok, _, err := keys.NewIssuer(m, "https://auth.test", "aud", time.Minute, c.Now).Issue(context.Background(), "sub", "", "coffer", nil)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Header["kid"].(string)
}

func TestRotationStateMachine(t *testing.T) {
	ctx := context.Background()
	_, db := newDB(t)
	kek := make([]byte, 32)
	rand.Read(kek)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{t: t0}
	m := newManager(t, db, kek, c)
	if err := m.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	first := signingKID(t, m, c)

	step := func(at time.Duration) {
		t.Helper()
		c.Set(t0.Add(at))
		if err := m.Step(ctx); err != nil {
			t.Fatalf("step at %v: %v", at, err)
		}
	}
	check := func(at time.Duration, wantSigner string, wantPublished ...string) {
		t.Helper()
		if got := signingKID(t, m, c); got != wantSigner {
			t.Fatalf("at %v: signing with %s, want %s", at, got, wantSigner)
		}
		pub := published(t, m)
		if len(pub) != len(wantPublished) {
			t.Fatalf("at %v: %d keys published, want %d", at, len(pub), len(wantPublished))
		}
		for _, k := range wantPublished {
			if !pub[k] {
				t.Fatalf("at %v: key %s not published", at, k)
			}
		}
	}

	step(49 * time.Minute) // more than PublishLead before the interval ends: nothing to do
	check(49*time.Minute, first, first)

	step(50 * time.Minute) // PublishLead before the end: a next key is published, not signing
	pub := published(t, m)
	var next string
	for k := range pub {
		if k != first {
			next = k
		}
	}
	if next == "" {
		t.Fatal("no next key published at interval - PublishLead")
	}
	check(50*time.Minute, first, first, next)
	step(59*time.Minute + 59*time.Second)
	check(59*time.Minute+59*time.Second, first, first, next)

	step(60 * time.Minute) // the interval is over: next signs, first is retired but published
	check(60*time.Minute, next, first, next)
	states := map[string]keys.State{}
	list, _ := m.ListSealed(ctx)
	for _, s := range list {
		states[s.ID] = s.State
	}
	if states[first] != keys.StateRetired || states[next] != keys.StateActive {
		t.Fatalf("states after rotation = %v", states)
	}

	step(79*time.Minute + 59*time.Second) // still within RetainAfterRetire
	check(79*time.Minute+59*time.Second, next, first, next)
	step(80 * time.Minute) // retired + RetainAfterRetire: removed
	check(80*time.Minute, next, next)
}

func TestRotateSoonWaitsForPublishLead(t *testing.T) {
	ctx := context.Background()
	_, db := newDB(t)
	kek := make([]byte, 32)
	rand.Read(kek)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{t: t0}
	m := newManager(t, db, kek, c)
	if err := m.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	first := signingKID(t, m, c)
	c.Set(t0.Add(5 * time.Minute))
	kid, at, err := m.RotateSoon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(15 * time.Minute); !at.Equal(want) {
		t.Fatalf("RotateSoon: signs from %v, want %v (now + PublishLead)", at, want)
	}
	// Asking again does not publish another key.
	if kid2, _, err := m.RotateSoon(ctx); err != nil || kid2 != kid {
		t.Fatalf("second RotateSoon = %s, %v; want the same next key %s", kid2, err, kid)
	}
	c.Set(t0.Add(15*time.Minute - time.Second))
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if got := signingKID(t, m, c); got != first {
		t.Fatalf("signing with %s before the next key was published for PublishLead", got)
	}
	c.Set(t0.Add(15 * time.Minute))
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if got := signingKID(t, m, c); got != kid {
		t.Fatalf("signing with %s after PublishLead, want %s", got, kid)
	}
}

// TestConcurrentRotation runs several managers (replicas) on one database through bootstrap
// and several rotations at the same instants: each time exactly one key is active.
func TestConcurrentRotation(t *testing.T) {
	ctx := context.Background()
	pool, db := newDB(t)
	kek := make([]byte, 32)
	rand.Read(kek)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{t: t0}
	const replicas = 5
	var ms []*keys.Manager
	for range replicas {
		ms = append(ms, newManager(t, db, kek, c))
	}
	all := func(f func(m *keys.Manager) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, replicas)
		start := make(chan struct{})
		for i, m := range ms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = f(m)
			}()
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func() map[string]int {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT state, count(*) FROM signing_keys GROUP BY state`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var s string
			var n int
			rows.Scan(&s, &n)
			out[s] = n
		}
		return out
	}

	all(func(m *keys.Manager) error { return m.Bootstrap(ctx) })
	if got := count(); got["active"] != 1 || len(got) != 1 {
		t.Fatalf("after concurrent bootstrap: %v, want one active key", got)
	}
	for round := 1; round <= 3; round++ {
		c.Set(t0.Add(time.Duration(round)*time.Hour - 10*time.Minute))
		all(func(m *keys.Manager) error { return m.Step(ctx) })
		if got := count(); got["next"] != 1 || got["active"] != 1 {
			t.Fatalf("round %d, publish: %v, want one next and one active", round, got)
		}
		c.Set(t0.Add(time.Duration(round) * time.Hour))
		all(func(m *keys.Manager) error { return m.Step(ctx) })
		got := count()
		// The key retired in the previous round is removed 20 minutes after its retirement.
		if got["active"] != 1 || got["next"] != 0 || got["retired"] != 1 {
			t.Fatalf("round %d, promote: %v, want one active, one retired, no next", round, got)
		}
		signers := map[string]bool{}
		for _, m := range ms {
			signers[signingKID(t, m, c)] = true
		}
		if len(signers) != 1 {
			t.Fatalf("round %d: replicas sign with %d different keys", round, len(signers))
		}
	}
}

// TestIssuerUsesItsClock: a token's iat, nbf and exp come from the issuer's clock (whole
// seconds), its lifetime is the TTL, and it carries the issuer, audience, subject, client,
// scopes and roles given.
func TestIssuerUsesItsClock(t *testing.T) {
	_, db := newDB(t)
	c := &clock{t: time.Date(2031, 3, 4, 5, 6, 7, 800, time.UTC)}
	kek := make([]byte, 32)
	rand.Read(kek)
	m := newManager(t, db, kek, c)
	if err := m.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok, ttl, err := keys.NewIssuer(m, "https://auth.test", "aud", 90*time.Second, c.Now).Issue(context.Background(), "sub-1", "alice", "app", []string{"files:read", "files:write"}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	var claims jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err != nil {
		t.Fatal(err)
	}
	at := c.t.Truncate(time.Second).Unix()
	want := jwt.MapClaims{"iss": "https://auth.test", "aud": []any{"aud"}, "sub": "sub-1", "client_id": "app",
		"scope": "files:read files:write", "roles": []any{"admin"}, "preferred_username": "alice",
		"iat": float64(at), "nbf": float64(at), "exp": float64(at + 90)}
	for k, v := range want {
		if fmt.Sprint(claims[k]) != fmt.Sprint(v) {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if ttl != 90*time.Second {
		t.Errorf("ttl = %v, want 90s", ttl)
	}
}
