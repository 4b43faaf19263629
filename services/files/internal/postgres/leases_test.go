package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/pgtest"
)

// newLeases returns lease locks on a fresh database whose main pool has at most conns
// connections.
func newLeases(t *testing.T, conns int32, ttl time.Duration) (*Leases, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = conns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	l := New(pool).Leases(ttl, nil)
	t.Cleanup(l.Close)
	return l, pool
}

// TestLeaseRelease: a second request asks the holder to let go (its onRelease runs at once,
// long before the lease would lapse), and gets the lease when the holder unlocks; a request
// that times out gets ErrLockTimeout.
func TestLeaseRelease(t *testing.T) {
	l, _ := newLeases(t, 4, time.Minute)
	ctx := context.Background()
	id := uuid.New()
	released := make(chan struct{})
	unlock, err := l.LockUpload(ctx, id, func() { close(released) })
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := l.LockUpload(short, id, func() {}); !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("while held: %v, want ErrLockTimeout", err)
	}
	<-released // asked by the request that timed out
	go func() { unlock() }()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	unlock2, err := l.LockUpload(wctx, id, func() {})
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	unlock2()
}

// TestLeaseTakeover: a lease its holder stopped renewing (a killed node) is taken over once
// it has expired, not before.
func TestLeaseTakeover(t *testing.T) {
	l, pool := newLeases(t, 4, time.Minute)
	ctx := context.Background()
	id := uuid.New()
	if _, err := pool.Exec(ctx, `INSERT INTO file_upload_leases (upload_id, holder, expires_at)
		VALUES ($1, 'dead node', now() + interval '700 milliseconds')`, id); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	unlock, err := l.LockUpload(wctx, id, func() {})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Errorf("took over after %v, before the lease expired", took)
	}
}

// TestLeasesHoldNoSession: 500 leases held at once through a pool of 5 connections (no
// session per lease), and 500 requests contending for 50 uploads never hold one at once.
func TestLeasesHoldNoSession(t *testing.T) {
	l, _ := newLeases(t, 5, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 500
	var acquired, release sync.WaitGroup
	acquired.Add(n)
	release.Add(1)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := l.LockUpload(ctx, uuid.New(), func() {})
			acquired.Done()
			if err != nil {
				errs <- err
				return
			}
			release.Wait() // all 500 held at this point
			unlock()
		}()
	}
	acquired.Wait()
	release.Done()
	wg.Wait()

	ids := make([]uuid.UUID, 50)
	for i := range ids {
		ids[i] = uuid.New()
	}
	var holding [50]atomic.Int32
	var overlap atomic.Bool
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := i % len(ids)
			unlock, err := l.LockUpload(ctx, ids[k], func() {})
			if err != nil {
				errs <- err
				return
			}
			if holding[k].Add(1) > 1 {
				overlap.Store(true)
			}
			time.Sleep(time.Millisecond) // hold it across other requests
			holding[k].Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if overlap.Load() {
		t.Error("two requests held one upload's lease at once")
	}
}
