package pgcluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/pkg/pgcluster"
)

// TestReplicaAndBouncer: a replica cloned from the primary streams its writes, lags while its
// replay is paused and catches up on resume; a PgBouncer in transaction mode passes queries
// through to the primary.
func TestReplicaAndBouncer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Stop(context.Background())
	replica, err := primary.StartReplica(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Stop(context.Background())
	bouncer, err := pgcluster.StartBouncer(ctx, primary, pgcluster.BouncerOptions{PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer bouncer.Close()

	p := connect(t, ctx, primary.DSN("postgres"))
	r := connect(t, ctx, replica.DSN("postgres"))
	var inRecovery bool
	if err := r.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("replica in recovery: %v, %v", inRecovery, err)
	}
	exec(t, ctx, p, "CREATE TABLE t (v int)")
	exec(t, ctx, p, "INSERT INTO t VALUES (1)")
	waitCount(t, ctx, r, 1)

	exec(t, ctx, r, "SELECT pg_wal_replay_pause()")
	exec(t, ctx, p, "INSERT INTO t VALUES (2)")
	var primaryLSN string
	if err := p.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&primaryLSN); err != nil {
		t.Fatal(err)
	}
	// Paused: the replica receives the WAL but does not apply it.
	waitFor(t, ctx, func() bool {
		var received bool
		err := r.QueryRow(ctx, "SELECT pg_last_wal_receive_lsn() >= $1::pg_lsn", primaryLSN).Scan(&received)
		return err == nil && received
	})
	if n := count(t, ctx, r); n != 1 {
		t.Fatalf("paused replica sees %d rows, want 1", n)
	}
	exec(t, ctx, r, "SELECT pg_wal_replay_resume()")
	waitCount(t, ctx, r, 2)

	b := connect(t, ctx, bouncer.DSN("postgres"))
	for range 3 { // repeated: a cached prepared statement would fail on another server connection
		if n := count(t, ctx, b); n != 2 {
			t.Fatalf("through the bouncer: %d rows, want 2", n)
		}
	}
}

func connect(t *testing.T, ctx context.Context, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func exec(t *testing.T, ctx context.Context, c *pgx.Conn, sql string) {
	t.Helper()
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func count(t *testing.T, ctx context.Context, c *pgx.Conn) int {
	t.Helper()
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitCount(t *testing.T, ctx context.Context, c *pgx.Conn, want int) {
	t.Helper()
	waitFor(t, ctx, func() bool {
		var n int
		err := c.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n)
		return err == nil && n == want
	})
}

func waitFor(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not met before the deadline")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
