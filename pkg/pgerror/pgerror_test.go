package pgerror_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/pgcluster"
	"github.com/cofferhq/coffer/pkg/pgerror"
)

// TestBouncerOutageIsTransient: with PostgreSQL down behind a PgBouncer in transaction mode,
// what the bouncer answers (its own errors, not the server's) still reads as "unavailable
// for now", so both services answer 503 rather than 500.
func TestBouncerOutageIsTransient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	b, err := pgcluster.StartBouncer(ctx, c, pgcluster.BouncerOptions{PoolSize: 2, QueryWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pool, err := pgxpool.New(ctx, b.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if err := c.StopServer(ctx); err != nil {
		t.Fatal(err)
	}
	// The pool's idle client connection to the bouncer is still open: the query reaches the
	// bouncer, which finds its server connection gone, and then no server to connect to.
	for i := range 3 {
		qctx, qcancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := pool.Exec(qctx, "SELECT 1")
		qcancel()
		t.Logf("query %d with the server down: %v", i, err)
		if err == nil {
			t.Fatalf("query %d with the server down succeeded", i)
		}
		if !pgerror.Transient(err) {
			t.Errorf("query %d: Transient(%v) = false, want true", i, err)
		}
	}
}
