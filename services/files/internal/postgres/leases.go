package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// DefaultLeaseTTL is how long an upload's lease lasts without renewal.
const DefaultLeaseTTL = 10 * time.Second

// releaseChannel carries requests to let go of an upload's lease: the payload is its id.
const releaseChannel = "coffer_upload_release"

// Leases locks resumable uploads with lease rows (file_upload_leases) instead of
// session-level advisory locks: a holder keeps no PostgreSQL session, only renews its row
// every TTL/3 on the main pool (which may go through a transaction pooler). Its LockUpload
// has the meaning of DB.LockUpload.
type Leases struct {
	db     *DB
	ttl    time.Duration
	logger *slog.Logger

	mu      sync.Mutex
	holders map[uuid.UUID]*leaseHolder
	listen  sync.Once
	stop    context.CancelFunc
	done    chan struct{}
}

type leaseHolder struct {
	token   string
	release func()
	once    sync.Once
}

func (h *leaseHolder) requestRelease() { h.once.Do(h.release) }

// Leases returns the lease locks of db's uploads. ttl is how long a lease lasts unrenewed:
// a node killed mid-PATCH lets go within it. Close stops its listener.
func (db *DB) Leases(ttl time.Duration, logger *slog.Logger) *Leases {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Leases{db: db, ttl: ttl, logger: logger, holders: map[uuid.UUID]*leaseHolder{}}
}

// LockUpload takes upload id's lease, asking its holder to let go while it waits (a
// release_requested flag and a NOTIFY; the holder's onRelease runs), until ctx ends, when it
// returns ErrLockTimeout. An expired lease is taken over. onRelease also runs if the lease
// cannot be renewed in time (the holder must stop writing: another may take it over).
func (l *Leases) LockUpload(ctx context.Context, id uuid.UUID, onRelease func()) (unlock func(), err error) {
	l.listen.Do(l.startListener)
	token := newToken()
	delay := 10 * time.Millisecond
	for asked := 0; ; asked++ {
		start := time.Now()
		var got bool
		err := l.db.pool.QueryRow(ctx, `INSERT INTO file_upload_leases (upload_id, holder, expires_at)
			VALUES ($1, $2, now() + make_interval(secs => $3))
			ON CONFLICT (upload_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at,
				release_requested = false
			WHERE file_upload_leases.expires_at < now()
			RETURNING true`, id, token, l.ttl.Seconds()).Scan(&got)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			if ctx.Err() != nil {
				return nil, ErrLockTimeout
			}
			return nil, fmt.Errorf("postgres: lease upload: %w", mapErr(err))
		}
		if got {
			return l.hold(id, token, start, onRelease), nil
		}
		if asked%10 == 0 { // ask at once, then now and then in case the holder changed
			if _, err := l.db.pool.Exec(ctx, `WITH r AS (UPDATE file_upload_leases SET release_requested = true WHERE upload_id = $1)
				SELECT pg_notify($2, $3)`, id, releaseChannel, id.String()); err != nil && ctx.Err() == nil {
				return nil, fmt.Errorf("postgres: lease upload: %w", mapErr(err))
			}
		}
		select {
		case <-ctx.Done():
			return nil, ErrLockTimeout
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// hold renews the lease until unlock; the lease is valid locally until the start of its last
// successful renewal plus the TTL, which is before the row's own expiry.
func (l *Leases) hold(id uuid.UUID, token string, granted time.Time, onRelease func()) func() {
	h := &leaseHolder{token: token, release: onRelease}
	l.mu.Lock()
	l.holders[id] = h
	l.mu.Unlock()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		valid := granted.Add(l.ttl)
		for {
			wait := l.ttl / 3
			select {
			case <-ctx.Done():
				return
			case <-time.After(min(wait, time.Until(valid))):
			}
			if !time.Now().Before(valid) {
				h.requestRelease() // could not renew in time: stop writing
				return
			}
			start := time.Now()
			var asked bool
			rctx, cancel := context.WithDeadline(ctx, valid)
			err := l.db.pool.QueryRow(rctx, `UPDATE file_upload_leases SET expires_at = now() + make_interval(secs => $3)
				WHERE upload_id = $1 AND holder = $2 RETURNING release_requested`, id, token, l.ttl.Seconds()).Scan(&asked)
			cancel()
			switch {
			case ctx.Err() != nil:
				return
			case errors.Is(err, pgx.ErrNoRows): // taken over: it had expired
				h.requestRelease()
				return
			case err != nil:
				continue // retry until valid runs out
			}
			valid = start.Add(l.ttl)
			if asked {
				h.requestRelease()
			}
		}
	}()
	return func() {
		stop()
		<-done
		l.mu.Lock()
		if l.holders[id] == h {
			delete(l.holders, id)
		}
		l.mu.Unlock()
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := l.db.pool.Exec(uctx, `DELETE FROM file_upload_leases WHERE upload_id = $1 AND holder = $2`, id, token); err != nil {
			// The lease lapses by itself within the TTL.
			l.logger.Warn("release upload lease", "upload", id, "err", err)
		}
	}
}

// startListener follows release requests on a direct connection, so a holder lets go at
// once; without it (the connection down) holders still see the flag at their next renewal.
func (l *Leases) startListener() {
	ctx, stop := context.WithCancel(context.Background())
	l.stop, l.done = stop, make(chan struct{})
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			err := l.listenOnce(ctx)
			if ctx.Err() != nil {
				return
			}
			l.logger.Warn("upload release listener lost; holders see requests at renewal", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
}

func (l *Leases) listenOnce(ctx context.Context) error {
	conn, err := l.db.direct.Acquire(ctx)
	if err != nil {
		return err
	}
	// The session ends with LISTEN on it: never give it back to the pool.
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn.Conn().Close(cctx)
		cancel()
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+releaseChannel); err != nil {
		return err
	}
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		id, err := uuid.Parse(n.Payload)
		if err != nil {
			continue
		}
		l.mu.Lock()
		h := l.holders[id]
		l.mu.Unlock()
		if h != nil {
			h.requestRelease()
		}
	}
}

// Close stops the release listener.
func (l *Leases) Close() {
	l.listen.Do(func() {})
	if l.stop != nil {
		l.stop()
		<-l.done
	}
}

func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
