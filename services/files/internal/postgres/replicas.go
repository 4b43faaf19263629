package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/services/files/internal/accesscache"
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
	// Subscribe calls fn with every notice, and its LSN, before Await counts it as taken.
	Subscribe(fn func(fence.Notice))
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
	// AdvisoryUploadLocks locks resumable uploads with session-level advisory locks (one
	// direct session per PATCH in flight), as releases before leases did. Default false:
	// leases (Leases), which hold no session. Every node must use the same kind.
	AdvisoryUploadLocks bool
	// LeaseTTL is an upload lease's lifetime unrenewed. Default DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Logger, default discards.
	Logger *slog.Logger
	// AccessCache answers FileByID from the node's memory when it holds the grant
	// (accesscache.Cache); it needs Fence, whose notices keep it exact. Optional.
	AccessCache AccessCache
}

// AccessCache is what FileByID needs of a node-local cache of grants (accesscache.Cache).
type AccessCache interface {
	Get(id uuid.UUID, user string) (files.File, bool)
	Begin() accesscache.Ticket
	Put(t accesscache.Ticket, user string, f files.File)
}

// querier is a pool (primary or replica) or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, arguments ...any) (pgconn.CommandTag, error)
}

// replica is one replica pool and its health.
type replica struct {
	pool    *pgxpool.Pool
	healthy atomic.Bool
}

// reads routes reads between the primary and replicas.
type reads struct {
	replicas []*replica
	fence    Fence
	next     atomic.Uint32
	check    time.Duration
	logger   *slog.Logger

	// users holds, per user, the newest position of a notice naming them (a file of theirs
	// created, a share to them, or a revocation): their listings read from a replica only
	// past it, so that a file uploaded through any node is in their next listing.
	mu    sync.Mutex
	users map[string]fence.LSN
}

// heard is the fence subscriber: it raises the positions of the users a notice names.
func (rs *reads) heard(n fence.Notice) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, u := range []string{n.OwnerID, n.UserID} {
		if u != "" && n.LSN > rs.users[u] {
			rs.users[u] = n.LSN
		}
	}
}

// userFence is the position a replica must have replayed to serve user's listings.
func (rs *reads) userFence(user string) fence.LSN {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.users[user]
}

// forget drops the users' positions that every replica has replayed.
func (rs *reads) forget(replayed fence.LSN) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for u, lsn := range rs.users {
		if lsn <= replayed {
			delete(rs.users, u)
		}
	}
}

// pick returns the next healthy replica and the fence it must have replayed, or nil for the
// primary (no replicas, none healthy, or the fence subscription not trusted).
func (rs *reads) pick() (*replica, fence.LSN) {
	if rs == nil {
		return nil, 0
	}
	f, ok := rs.fence.Fence()
	if !ok {
		return nil, 0
	}
	n := uint32(len(rs.replicas))
	start := rs.next.Add(1)
	for i := range n {
		if r := rs.replicas[(start+i)%n]; r.healthy.Load() {
			return r, f
		}
	}
	return nil, 0
}

// replayedKey holds, in a replica connection's CustomData, the replay position last read on
// that connection and when.
const replayedKey = "coffer.replayed"

type replayed struct {
	lsn fence.LSN
	at  time.Time
}

// onReplica runs fn on a connection of r that has replayed at least f, and reports false
// (without running fn) if that connection is behind. The position is read on the very
// connection the read then uses, before the read's snapshot is taken: a replica URL may be
// a load-balanced service (CloudNativePG's -ro) whose connections reach different replicas.
func (db *DB) onReplica(ctx context.Context, r *replica, f fence.LSN, fn func(q querier) error) (bool, error) {
	c, err := r.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: replica: %w", mapErr(err))
	}
	defer c.Release()
	data := c.Conn().PgConn().CustomData()
	seen, _ := data[replayedKey].(replayed)
	if seen.lsn < f {
		if time.Since(seen.at) < 5*time.Millisecond {
			return false, nil // looked a moment ago: do not double every read of a lagging replica
		}
		lsn, err := replayLSN(ctx, c)
		if err != nil {
			return false, fmt.Errorf("postgres: replica: %w", mapErr(err))
		}
		seen = replayed{lsn: lsn, at: time.Now()}
		data[replayedKey] = seen
		if lsn < f {
			return false, nil
		}
	}
	return true, fn(c)
}

// replayLSN reads how far a replica has replayed. A primary given as a replica (or a promoted
// one) reports its own insert position: everything is replayed there.
func replayLSN(ctx context.Context, q querier) (fence.LSN, error) {
	var s string
	err := q.QueryRow(ctx, `SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
		ELSE pg_current_wal_insert_lsn() END)::text`).Scan(&s)
	if err != nil {
		return 0, err
	}
	return fence.ParseLSN(s)
}

// run checks every replica now and then until ctx ends: one that fails is skipped until it
// answers again, and users' positions every replica has replayed are forgotten.
func (rs *reads) run(ctx context.Context) {
	t := time.NewTicker(rs.check)
	defer t.Stop()
	for {
		least, all := fence.LSN(1<<64-1), true
		for i, r := range rs.replicas {
			cctx, cancel := context.WithTimeout(ctx, max(rs.check, time.Second))
			lsn, err := replayLSN(cctx, r.pool)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				all = false
			} else {
				least = min(least, lsn)
			}
			if was := r.healthy.Swap(err == nil); was != (err == nil) {
				if err != nil {
					rs.logger.Warn("replica unavailable; reading from the primary", "replica", i, "err", err)
				} else {
					rs.logger.Info("replica available", "replica", i)
				}
			}
		}
		if all {
			rs.forget(least)
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
	return db.readFor(ctx, "", fn)
}

// readFor is read for a listing of user's: a replica serves it only once past the user's own
// position too (their newest file or share, from any node).
func (db *DB) readFor(ctx context.Context, user string, fn func(q querier) error) error {
	if r, f := db.reads.pick(); r != nil {
		if user != "" {
			f = max(f, db.reads.userFence(user))
		}
		used, err := db.onReplica(ctx, r, f, fn)
		switch {
		case err == nil && used:
			return nil
		case err == nil: // behind the fence
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
		if id == "" { // nothing published (a grant without replicas)
			continue
		}
		if err := db.fence.Await(context.WithoutCancel(ctx), id); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	return nil
}

// NewPool opens a pool on url that also works through a transaction pooler in pgx's exec or
// simple-protocol mode (default_query_exec_mode in the URL): there pgx sends no statement
// description, so it must know the PostgreSQL type of every argument from its Go type, and
// this package passes ids as [16]byte and uuid.UUID.
func NewPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	after := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		registerTypes(c)
		if after != nil {
			return after(ctx, c)
		}
		return nil
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

func registerTypes(c *pgx.Conn) {
	tm := c.TypeMap()
	tm.RegisterDefaultPgType([16]byte{}, "uuid")
	tm.RegisterDefaultPgType(uuid.UUID{}, "uuid")
}
