package keys_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

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
