package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// count adds one attempt to each key and returns the results by key.
func count(t *testing.T, db dbT, at, windowStartedBefore time.Time, keys ...string) map[string]auth.Attempts {
	t.Helper()
	got, err := db.CountLoginAttempt(context.Background(), keys, at, windowStartedBefore)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(keys) {
		t.Fatalf("CountLoginAttempt(%v) returned %d results", keys, len(got))
	}
	m := map[string]auth.Attempts{}
	for _, a := range got {
		m[a.Key] = a
	}
	return m
}

func wantAttempts(t *testing.T, got map[string]auth.Attempts, key string, n int, start time.Time) {
	t.Helper()
	a, ok := got[key]
	if !ok || a.Count != n || !a.WindowStart.Equal(start) {
		t.Errorf("%s: %+v (present %v), want count %d from %v", key, a, ok, n, start)
	}
}

// A key's window starts at its first attempt and is replaced by a new one (count 1) once it
// began at or before windowStartedBefore.
func TestCountLoginAttemptWindow(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	t0 := now()
	got := count(t, db, t0, t0.Add(-time.Minute), "user:b", "ip:a")
	wantAttempts(t, got, "user:b", 1, t0)
	wantAttempts(t, got, "ip:a", 1, t0)

	t1 := t0.Add(30 * time.Second)
	got = count(t, db, t1, t0.Add(-time.Microsecond), "user:b")
	wantAttempts(t, got, "user:b", 2, t0)

	// The window began exactly at windowStartedBefore: a new one starts now.
	t2 := t0.Add(time.Minute)
	got = count(t, db, t2, t0, "user:b", "ip:a")
	wantAttempts(t, got, "user:b", 1, t2)
	wantAttempts(t, got, "ip:a", 1, t2)

	got = count(t, db, t2.Add(time.Second), t2.Add(-time.Microsecond), "ip:a", "ip:c")
	wantAttempts(t, got, "ip:a", 2, t2)
	wantAttempts(t, got, "ip:c", 1, t2.Add(time.Second))
}

// Forgetting an attempt removes one (never below zero) and keeps the window; reset clears the
// key, so the next attempt starts a new window.
func TestForgetLoginAttempt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	t0 := now()
	old := t0.Add(-time.Hour)
	count(t, db, t0, old, "k")
	count(t, db, t0, old, "k")
	count(t, db, t0, old, "k")
	if err := db.ForgetLoginAttempt(ctx, "k", false); err != nil {
		t.Fatal(err)
	}
	wantAttempts(t, count(t, db, t0.Add(time.Second), old, "k"), "k", 3, t0)

	for range 5 {
		if err := db.ForgetLoginAttempt(ctx, "k", false); err != nil {
			t.Fatal(err)
		}
	}
	wantAttempts(t, count(t, db, t0.Add(2*time.Second), old, "k"), "k", 1, t0)

	if err := db.ForgetLoginAttempt(ctx, "k", true); err != nil {
		t.Fatal(err)
	}
	t3 := t0.Add(3 * time.Second)
	wantAttempts(t, count(t, db, t3, old, "k"), "k", 1, t3)

	for _, reset := range []bool{false, true} {
		if err := db.ForgetLoginAttempt(ctx, "unknown", reset); err != nil {
			t.Errorf("ForgetLoginAttempt(unknown, %v): %v", reset, err)
		}
	}
}

// Counts are deleted once their window began at or before t.
func TestDeleteLoginAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	t0 := now()
	t1 := t0.Add(time.Second)
	count(t, db, t0, t0.Add(-time.Hour), "a", "b")
	count(t, db, t1, t0.Add(-time.Hour), "c")
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{t0.Add(-time.Microsecond), 0},
		{t0, 2},
		{t0, 0},
		{t1.Add(-time.Microsecond), 0},
		{t1, 1},
	} {
		n, err := db.DeleteLoginAttempts(ctx, tc.t)
		if err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("DeleteLoginAttempts(%v) = %d, want %d", tc.t, n, tc.want)
		}
	}
	wantAttempts(t, count(t, db, t1, t0.Add(-time.Hour), "a"), "a", 1, t1)
}
