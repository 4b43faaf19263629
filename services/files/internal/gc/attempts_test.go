package gc_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/cofferhq/coffer/services/files/internal/disk"
	"github.com/cofferhq/coffer/services/files/internal/gc"
)

// TestCollectForgetsPasswordAttempts: the collector removes the rows of password-attempt
// windows that have ended (every id anyone tried leaves one) and keeps the windows still
// running, whose counts the throttle needs.
func TestCollectForgetsPasswordAttempts(t *testing.T) {
	db, pool := newDBPool(t)
	store, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	ctx := t.Context()
	// Two ended windows (one for an id nobody owns), one still running.
	for _, a := range []struct {
		key string
		at  time.Time
	}{{"ended-known", now.Add(-2 * time.Hour)}, {"ended-probe", now.Add(-90 * time.Minute)}, {"running", now.Add(-10 * time.Minute)}} {
		if _, _, err := db.TakeAttempt(ctx, []byte(a.key), a.at, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	c := gc.New(store, db, db, gc.Config{Attempts: db}, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	res, err := c.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 {
		t.Errorf("forgot %d attempt windows, want 2", res.Attempts)
	}
	var keys []string
	rows, err := pool.Query(ctx, `SELECT convert_from(key, 'UTF8') FROM link_password_failures ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if rows.Err() != nil || len(keys) != 1 || keys[0] != "running" {
		t.Fatalf("windows left: %v (%v), want [running]", keys, rows.Err())
	}
	// The running window still counts: the next failure is its second.
	if n, _, err := db.TakeAttempt(ctx, []byte("running"), now, time.Hour); err != nil || n != 2 {
		t.Fatalf("the running window after the sweep: %d failures, %v; want 2", n, err)
	}
}
