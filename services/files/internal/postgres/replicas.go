package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/services/files/internal/fence"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Fence is what replica reads need of the node's fence listener (fence.Listener).
type Fence interface {
	// Fence returns the WAL position a replica must have replayed before it may serve a
	// read, and false when replicas must not be trusted at all.
	Fence() (fence.LSN, bool)
	// Await returns once the notice id's fence holds on every node (or its lease passed).
	Await(ctx context.Context, id string) error
}

// Options wires a DB beyond its primary pool.
type Options struct {
	// Replicas serve reads that need not see this node's own writes: file lookups (for
	// downloads), listings and link checks. Optional.
	Replicas []*pgxpool.Pool
	// Fence guards replica reads and revocations; required with Replicas.
	Fence Fence
	// CheckInterval is how often each replica's health and replay position are read.
	// Default 1s.
	CheckInterval time.Duration
	// Direct is a pool of direct connections to the primary, for what needs a session of its
	// own (advisory locks), when the main pool goes through a transaction pooler such as
	// PgBouncer. Default: the main pool.
	Direct *pgxpool.Pool
	// Logger, default discards.
	Logger *slog.Logger
}

// querier is a pool (primary or replica) or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, arguments ...any) (pgconn.CommandTag, error)
}

// replica is one replica pool with what the node last learned of it.
type replica struct {
	pool      *pgxpool.Pool
	replayed  atomic.Uint64 // a replay position it has certainly reached
	healthy   atomic.Bool
	refreshed atomic.Int64 // unix nanoseconds of the last on-demand refresh
}

// refresh reads the replica's replay position. A primary given as a replica (or a promoted
// one) reports its own insert position: everything is replayed there.
func (r *replica) refresh(ctx context.Context) (fence.LSN, error) {
	var s string
	err := r.pool.QueryRow(ctx, `SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
		ELSE pg_current_wal_insert_lsn() END)::text`).Scan(&s)
	if err != nil {
		return 0, err
	}
	lsn, err := fence.ParseLSN(s)
	if err != nil {
		return 0, err
	}
	for { // only forward: a concurrent refresh may have seen a newer position
		old := r.replayed.Load()
		if uint64(lsn) <= old || r.replayed.CompareAndSwap(old, uint64(lsn)) {
			break
		}
	}
	return fence.LSN(r.replayed.Load()), nil
}

// reads routes reads between the primary and replicas.
type reads struct {
	replicas []*replica
	fence    Fence
	next     atomic.Uint32
	check    time.Duration
	logger   *slog.Logger
}

// pick returns a replica that has replayed past the node's fence, or nil for the primary.
func (rs *reads) pick(ctx context.Context) *replica {
	if rs == nil {
		return nil
	}
	f, ok := rs.fence.Fence()
	if !ok {
		return nil
	}
	n := uint32(len(rs.replicas))
	start := rs.next.Add(1)
	for i := range n {
		r := rs.replicas[(start+i)%n]
		if !r.healthy.Load() {
			continue
		}
		if fence.LSN(r.replayed.Load()) >= f {
			return r
		}
		// Behind the fence as far as we know: look again, at most every few milliseconds
		// per replica, so a lagging replica does not double every read.
		last := r.refreshed.Load()
		now := time.Now().UnixNano()
		if now-last < int64(5*time.Millisecond) || !r.refreshed.CompareAndSwap(last, now) {
			continue
		}
		if lsn, err := r.refresh(ctx); err == nil && lsn >= f {
			return r
		}
	}
	return nil
}

// run checks every replica now and then until ctx ends.
func (rs *reads) run(ctx context.Context) {
	t := time.NewTicker(rs.check)
	defer t.Stop()
	for {
		for i, r := range rs.replicas {
			cctx, cancel := context.WithTimeout(ctx, max(rs.check, time.Second))
			_, err := r.refresh(cctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if was := r.healthy.Swap(err == nil); was != (err == nil) {
				if err != nil {
					rs.logger.Warn("replica unavailable; reading from the primary", "replica", i, "err", err)
				} else {
					rs.logger.Info("replica available", "replica", i)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// read runs fn on a replica past the fence if there is one, else on the primary. A replica
// that does not find the row (it may not have replayed a write made a moment ago, on any
// node) or that fails is followed by the primary.
func (db *DB) read(ctx context.Context, fn func(q querier) error) error {
	if r := db.reads.pick(ctx); r != nil {
		err := fn(r.pool)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, files.ErrNotFound):
		case errors.Is(err, files.ErrUnavailable):
			if r.healthy.Swap(false) {
				db.reads.logger.Warn("replica failed; reading from the primary", "err", err)
			}
		default:
			return err
		}
	}
	return fn(db.pool)
}

// revoke runs fn in a transaction on the primary and publishes the notices it returns
// (fence.Publish) in that transaction. After the commit it waits until every node holds
// their fence, so that once the caller answers, no node grants the revoked access from a
// lagging replica. Every operation that takes access away goes through it.
func (db *DB) revoke(ctx context.Context, fn func(tx pgx.Tx) ([]fence.Notice, error)) error {
	var ids []string
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		notices, err := fn(tx)
		if err != nil {
			return err
		}
		for _, n := range notices {
			id, err := fence.Publish(ctx, tx, n)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return db.awaitFence(ctx, ids...)
}

// awaitFence waits for the fences of notices published in a committed transaction. It waits
// even if ctx ends (the revocation is done; its answer must not come before its fence), for
// at most the fence's lease.
func (db *DB) awaitFence(ctx context.Context, ids ...string) error {
	if db.fence == nil {
		return nil
	}
	for _, id := range ids {
		if err := db.fence.Await(context.WithoutCancel(ctx), id); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	return nil
}
