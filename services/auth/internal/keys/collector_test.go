package keys_test

import (
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cofferhq/coffer/services/auth/internal/keys"
)

// TestCollector: the key gauges count the loaded keys by state, and the active key's age
// runs from when it began signing (its activation, not its creation as the next key).
func TestCollector(t *testing.T) {
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
	reg := prometheus.NewRegistry()
	reg.MustRegister(keys.NewCollector(m, c.Now))
	expect := func(next, active, retired, age string) {
		t.Helper()
		want := `
# HELP coffer_auth_active_key_age_seconds Seconds since the active key began signing.
# TYPE coffer_auth_active_key_age_seconds gauge
coffer_auth_active_key_age_seconds ` + age + `
# HELP coffer_auth_keys_published Signing keys in the JWK Set, by state (next, active, retired).
# TYPE coffer_auth_keys_published gauge
coffer_auth_keys_published{state="active"} ` + active + `
coffer_auth_keys_published{state="next"} ` + next + `
coffer_auth_keys_published{state="retired"} ` + retired + `
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
			t.Error(err)
		}
	}
	c.Set(t0.Add(10 * time.Minute))
	expect("0", "1", "0", "600")
	for _, at := range []time.Duration{50 * time.Minute, 60 * time.Minute} { // publish next, then rotate
		c.Set(t0.Add(at))
		if err := m.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	c.Set(t0.Add(61 * time.Minute))
	expect("0", "1", "1", "60") // created at 50 min, signing since 60 min
	// `coffer-auth keys list` shows when the retired key leaves the JWK Set.
	list, err := m.ListSealed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		at, ok := m.RemovalTime(s)
		if want := s.State == keys.StateRetired; ok != want || ok && !at.Equal(t0.Add(80*time.Minute)) {
			t.Errorf("%s key: RemovalTime = %v %v, want %v at %v", s.State, at, ok, want, t0.Add(80*time.Minute))
		}
	}
}

// TestRotationDefaults: without settings, a next key is published 10 min 30 s before the
// interval ends and a retired key stays published 20 min 30 s after it retired.
func TestRotationDefaults(t *testing.T) {
	ctx := context.Background()
	_, db := newDB(t)
	kek := make([]byte, 32)
	rand.Read(kek)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{t: t0}
	m, err := keys.NewManager(db, keys.Options{KEK: kek, Now: c.Now, Rotation: keys.Rotation{Interval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	first := signingKID(t, m, c)
	for _, tc := range []struct {
		at        time.Duration
		published int
	}{
		{49*time.Minute + 29*time.Second, 1},
		{49*time.Minute + 30*time.Second, 2}, // the next key
		{60 * time.Minute, 2},                // it signs; the first is retired
		{80*time.Minute + 29*time.Second, 2},
		{80*time.Minute + 30*time.Second, 1}, // the retired key is gone
	} {
		c.Set(t0.Add(tc.at))
		if err := m.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if got := len(published(t, m)); got != tc.published {
			t.Errorf("at %v: %d keys published, want %d", tc.at, got, tc.published)
		}
	}
	if kid := signingKID(t, m, c); kid == first {
		t.Error("the first key still signs after the interval")
	}
}

// TestNoRotationWithoutInterval: an interval of zero turns rotation off: however much time
// passes, Step publishes no next key and the first key keeps signing.
func TestNoRotationWithoutInterval(t *testing.T) {
	ctx := context.Background()
	_, db := newDB(t)
	kek := make([]byte, 32)
	rand.Read(kek)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{t: t0}
	m, err := keys.NewManager(db, keys.Options{KEK: kek, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	first := signingKID(t, m, c)
	c.Set(t0.Add(10 * 365 * 24 * time.Hour))
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if got := published(t, m); len(got) != 1 || !got[first] {
		t.Fatalf("published %v after ten years without rotation, want only %s", got, first)
	}
}

// TestRotateSoonOnReplicas: replicas asking for a rotation at once agree on one next key and
// one time (the replicas that lose the race to store theirs use the winner's).
func TestRotateSoonOnReplicas(t *testing.T) {
	ctx := context.Background()
	_, db := newDB(t)
	kek := make([]byte, 32)
	rand.Read(kek)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{t: t0}
	const replicas = 4
	ms := make([]*keys.Manager, replicas)
	for i := range ms {
		ms[i] = newManager(t, db, kek, c)
	}
	if err := ms[0].Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	kids, ats, errs := make([]string, replicas), make([]time.Time, replicas), make([]error, replicas)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, m := range ms {
		wg.Go(func() { <-start; kids[i], ats[i], errs[i] = m.RotateSoon(ctx) })
	}
	close(start)
	wg.Wait()
	for i := range ms {
		if errs[i] != nil || kids[i] != kids[0] || !ats[i].Equal(t0.Add(rotation.PublishLead)) {
			t.Errorf("replica %d: RotateSoon = %s %v %v; want %s at %v", i, kids[i], ats[i], errs[i], kids[0], t0.Add(rotation.PublishLead))
		}
	}
}

// TestRotateSoonSchedulesAnUnscheduledNextKey: a next key stored without a time to sign (as
// an older release stored them) is scheduled PublishLead after it was published.
func TestRotateSoonSchedulesAnUnscheduledNextKey(t *testing.T) {
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
	next, err := m.Generate(keys.StateNext)
	if err != nil {
		t.Fatal(err)
	}
	if won, err := db.InsertNextIfNone(ctx, next.Sealed); err != nil || !won {
		t.Fatalf("InsertNextIfNone = %v, %v", won, err)
	}
	c.Set(t0.Add(time.Minute))
	if err := m.Step(ctx); err != nil { // too early to promote it
		t.Fatal(err)
	}
	list, err := m.ListSealed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		at, ok := m.ActivationTime(s)
		if want := s.ID == next.ID; ok != want || ok && !at.Equal(t0.Add(rotation.PublishLead)) {
			t.Errorf("%s key: ActivationTime = %v %v, want %v at %v", s.State, at, ok, want, t0.Add(rotation.PublishLead))
		}
	}
	kid, at, err := m.RotateSoon(ctx)
	if err != nil || kid != next.ID || !at.Equal(t0.Add(rotation.PublishLead)) {
		t.Fatalf("RotateSoon = %s %v %v; want %s at %v", kid, at, err, next.ID, t0.Add(rotation.PublishLead))
	}
}

// TestVerifier: the auth service's own verifier accepts its tokens by the kid among the loaded
// keys (a retired key's too, while published) and refuses a token without a kid, with an
// unknown kid, or signed by a key that is gone.
func TestVerifier(t *testing.T) {
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
	v := keys.NewVerifier(m, "https://auth.test", "aud", 0, c.Now)
	issue := func() string {
		t.Helper()
		tok, _, err := keys.NewIssuer(m, "https://auth.test", "aud", 2*time.Hour, c.Now).Issue(ctx, "sub-1", "", "app", []string{"files:read"})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	old := issue()
	if claims, err := v.Verify(ctx, old); err != nil || claims.Subject != "sub-1" {
		t.Fatalf("Verify = %v, %v", claims, err)
	}
	// The same token with its kid removed or changed (the signature no longer matters).
	for name, kid := range map[string]any{"no kid": nil, "unknown kid": "not-a-key"} {
		parsed, _, err := jwt.NewParser().ParseUnverified(old, &jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		if kid == nil {
			delete(parsed.Header, "kid")
		} else {
			parsed.Header["kid"] = kid
		}
		priv := m.Keys()[0].Private
		tok, err := parsed.SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, at := range []time.Duration{50 * time.Minute, 60 * time.Minute} { // rotate
		c.Set(t0.Add(at))
		if err := m.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.Verify(ctx, old); err != nil {
		t.Errorf("a retired but published key's token: %v", err)
	}
	if _, err := v.Verify(ctx, issue()); err != nil {
		t.Errorf("the new key's token: %v", err)
	}
	c.Set(t0.Add(80 * time.Minute))
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, old); err == nil {
		t.Error("a removed key's token accepted")
	}
}
