package fence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Defaults of Options.
const (
	DefaultLease = 2 * time.Second
)

// Options configures a Listener.
type Options struct {
	// Connect opens a direct connection to the primary: LISTEN needs a session of its own, so
	// never one through a transaction pooler. Required.
	Connect func(ctx context.Context) (*pgx.Conn, error)
	// Lease bounds how long the node trusts its subscription without hearing its own
	// heartbeat back, and so how long a revocation waits for a node that does not answer.
	// Default DefaultLease.
	Lease time.Duration
	// Heartbeat is how often the node sends a heartbeat. Default Lease/4.
	Heartbeat time.Duration
	// Logger, default discards.
	Logger *slog.Logger
}

// Listener follows the notices of the primary on one direct connection and keeps the node's
// fence: the newest WAL position a replica must have replayed before the node reads from it.
type Listener struct {
	opts   Options
	node   string
	logger *slog.Logger

	mu        sync.Mutex
	fence     LSN
	connected bool
	listened  time.Time            // when the current LISTEN took effect
	trustedTo time.Time            // the subscription is trusted until then (monotonic)
	peers     map[string]time.Time // node -> when its last heartbeat arrived
	seen      map[string]time.Time // notice ids processed here -> when
	acks      map[string]map[string]bool
	sent      map[uint64]time.Time // own heartbeat seq -> when it was sent
	changed   chan struct{}        // closed and replaced on every change, for Await
	subs      []func(Notice)
}

// NewListener returns a listener; Run starts it.
func NewListener(opts Options) *Listener {
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = opts.Lease / 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Listener{
		opts: opts, node: newID(), logger: opts.Logger,
		peers: map[string]time.Time{}, seen: map[string]time.Time{}, acks: map[string]map[string]bool{},
		sent: map[uint64]time.Time{}, changed: make(chan struct{}),
	}
}

// Fence returns the newest fence and whether replicas may be trusted at all now: false
// while the subscription is down, or its heartbeat has not come back within the lease.
func (l *Listener) Fence() (LSN, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fence, l.connected && time.Now().Before(l.trustedTo)
}

// Subscribe calls fn for every notice, in commit order, after the fence has moved past it
// and before the node acknowledges it (so a revoking request's Await also waits for fn on
// every live node, and a node's own Await waits for it there). fn runs on the listener's
// goroutine: it must be quick. A node-local
// cache drops what a notice names. When the subscription is lost fn gets a notice of kind
// SubscriptionLost, before the node subscribes again: notices may have been missed, so a
// cache drops everything. Between the loss and the next trusted subscription Fence's second
// result is false, and a cache must not be used.
func (l *Listener) Subscribe(fn func(Notice)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.subs = append(l.subs, fn)
}

// Await returns once every node this one knows of (itself included) has taken notice id's
// fence and every subscriber there has been called with it, or once the lease has passed
// since the call, after which a node that did not take it no longer trusts replicas (nor,
// if its subscribers follow Fence, its cache). Call it after the publishing transaction
// committed and before answering the request. It returns early only if ctx ends.
func (l *Listener) Await(ctx context.Context, id string) error {
	deadline := time.Now().Add(l.opts.Lease)
	for {
		l.mu.Lock()
		done := l.acknowledged(id)
		ch := l.changed
		wake := deadline
		if settled := l.listened.Add(l.opts.Lease); settled.Before(wake) {
			wake = settled // the set of peers may become complete before the deadline
		}
		l.mu.Unlock()
		if done || !time.Now().Before(deadline) {
			return nil
		}
		timer := time.NewTimer(max(time.Until(wake), time.Millisecond))
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("fence: await: %w", ctx.Err())
		case <-timer.C:
		case <-ch:
			timer.Stop()
		}
	}
}

// Settled reports whether this node has been subscribed for a lease, so that it knows every
// node that trusts replicas (each one's heartbeat within the lease reached it), and Await
// returns on their acknowledgements rather than at the end of the lease.
func (l *Listener) Settled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.settledLocked()
}

func (l *Listener) settledLocked() bool {
	return l.connected && !l.listened.IsZero() && !time.Now().Before(l.listened.Add(l.opts.Lease))
}

// acknowledged: this node processed the notice (so every heartbeat committed before it has
// been heard), has been subscribed for a lease (a node trusts replicas only within a lease of
// a heartbeat, and every heartbeat since the LISTEN reached this node: the set of live peers
// is complete), and every live peer acknowledged it.
func (l *Listener) acknowledged(id string) bool {
	if _, ok := l.seen[id]; !ok || !l.settledLocked() {
		return false
	}
	live := time.Now().Add(-l.opts.Lease)
	for node, at := range l.peers {
		if node != l.node && at.After(live) && !l.acks[id][node] {
			return false
		}
	}
	return true
}

// Run listens until ctx ends, reconnecting after a failure. While it is not subscribed,
// Fence reports replicas untrusted.
func (l *Listener) Run(ctx context.Context) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := l.session(ctx)
		l.setConnected(false)
		l.lost()
		if ctx.Err() != nil {
			return
		}
		l.logger.Warn("fence subscription lost; reading from the primary until it is back", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// lost tells every subscriber that notices may have been missed (SubscriptionLost). It runs
// after the node stopped trusting its subscription and before it subscribes again.
func (l *Listener) lost() {
	l.mu.Lock()
	subs := l.subs
	l.mu.Unlock()
	for _, fn := range subs {
		fn(Notice{Kind: SubscriptionLost})
	}
}

func (l *Listener) setConnected(v bool) {
	l.mu.Lock()
	l.connected = v
	if !v {
		l.trustedTo = time.Time{}
	}
	l.notifyLocked()
	l.mu.Unlock()
}

func (l *Listener) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// session is one subscription: LISTEN, then read the current fence (so a notice missed while
// unsubscribed is covered), then take notices until the connection fails.
func (l *Listener) session(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := l.opts.Connect(cctx)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+Channel); err != nil {
		return err
	}
	// A heartbeat sent after this moment commits after the LISTEN, so it is heard here.
	l.mu.Lock()
	l.listened = time.Now()
	l.mu.Unlock()
	// Every revocation committed before this read is behind the fence; every later one will
	// be heard on this connection.
	if err := l.readFence(ctx, conn); err != nil {
		return err
	}
	l.setConnected(true)
	var seq uint64
	next := time.Now()
	for {
		if !time.Now().Before(next) {
			seq++
			if err := l.heartbeat(ctx, conn, seq); err != nil {
				return err
			}
			next = time.Now().Add(l.opts.Heartbeat)
		}
		wctx, cancel := context.WithDeadline(ctx, next)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed() {
				continue // time for a heartbeat
			}
			return err
		}
		batch := []string{n.Payload}
		// Take whatever else already arrived, so a burst costs one fence read.
		for {
			dctx, cancel := context.WithTimeout(ctx, time.Millisecond)
			n, err := conn.WaitForNotification(dctx)
			cancel()
			if err != nil {
				if conn.IsClosed() {
					return err
				}
				break
			}
			batch = append(batch, n.Payload)
		}
		if err := l.handle(ctx, conn, batch); err != nil {
			return err
		}
	}
}

func (l *Listener) heartbeat(ctx context.Context, conn *pgx.Conn, seq uint64) error {
	l.mu.Lock()
	l.sent[seq] = time.Now()
	l.mu.Unlock()
	return l.send(ctx, conn, message{Heartbeat: &beat{Node: l.node, Seq: seq}})
}

func (l *Listener) send(ctx context.Context, conn *pgx.Conn, m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, string(b))
	return err
}

func (l *Listener) readFence(ctx context.Context, conn *pgx.Conn) error {
	lsn, err := position(ctx, conn)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.fence = max(l.fence, lsn)
	l.mu.Unlock()
	return nil
}

// position reads the primary's insert position: the commit record of every transaction whose
// notice has been delivered is before it, even if not yet flushed.
func position(ctx context.Context, conn *pgx.Conn) (LSN, error) {
	var s string
	if err := conn.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&s); err != nil {
		return 0, err
	}
	return ParseLSN(s)
}

// handle processes a batch of payloads in order: heartbeats and acknowledgements update the
// node's view at once; notices move the fence (one read for the batch), then are
// acknowledged to the other nodes.
func (l *Listener) handle(ctx context.Context, conn *pgx.Conn, batch []string) error {
	var notices []Notice
	var trustAfter time.Time
	now := time.Now()
	l.mu.Lock()
	for _, p := range batch {
		var m message
		if err := json.Unmarshal([]byte(p), &m); err != nil {
			l.logger.Warn("fence: ignoring a malformed notification", "err", err)
			continue
		}
		switch {
		case m.Heartbeat != nil:
			l.peers[m.Heartbeat.Node] = now
			if m.Heartbeat.Node == l.node {
				// Everything committed before this heartbeat has been heard: trust the
				// subscription for a lease from when the heartbeat was sent.
				if at, ok := l.sent[m.Heartbeat.Seq]; ok {
					if len(notices) == 0 {
						l.trustedTo = at.Add(l.opts.Lease)
					} else {
						trustAfter = at // notices before it in this batch are not fenced yet
					}
					for s := range l.sent {
						if s <= m.Heartbeat.Seq {
							delete(l.sent, s)
						}
					}
				}
			}
		case m.Ack != nil:
			for _, id := range m.Ack.IDs {
				if l.acks[id] == nil {
					l.acks[id] = map[string]bool{}
				}
				l.acks[id][m.Ack.Node] = true
			}
		case m.Notice != nil:
			notices = append(notices, *m.Notice)
		}
	}
	l.forgetOldLocked(now)
	l.notifyLocked()
	l.mu.Unlock()
	if len(notices) == 0 {
		return nil
	}
	lsn, err := position(ctx, conn)
	if err != nil {
		return err
	}
	l.mu.Lock()
	ids := make([]string, len(notices))
	for i := range notices {
		notices[i].LSN = lsn
		ids[i] = notices[i].ID
		if !notices[i].Grant {
			l.fence = max(l.fence, lsn)
		}
	}
	subs := l.subs
	l.mu.Unlock()
	// Subscribers (a node-local cache) first: this node's own Await must not return, nor
	// this node's trust resume, before they have dropped what the notices revoke.
	for _, n := range notices {
		for _, fn := range subs {
			fn(n)
		}
	}
	l.mu.Lock()
	for _, id := range ids {
		l.seen[id] = now
	}
	if !trustAfter.IsZero() {
		l.trustedTo = trustAfter.Add(l.opts.Lease)
	}
	l.notifyLocked()
	l.mu.Unlock()
	// Acknowledge only now that the fence is in place here.
	return l.send(ctx, conn, message{Ack: &ack{Node: l.node, IDs: ids}})
}

// forgetOldLocked drops bookkeeping older than a few leases: no Await waits that long.
func (l *Listener) forgetOldLocked(now time.Time) {
	old := now.Add(-4 * l.opts.Lease)
	for id, at := range l.seen {
		if at.Before(old) {
			delete(l.seen, id)
			delete(l.acks, id)
		}
	}
	for n, at := range l.peers {
		if at.Before(old) {
			delete(l.peers, n)
		}
	}
	if len(l.acks) > 4*len(l.seen)+1024 { // acks of notices this node never heard
		for id := range l.acks {
			if _, ok := l.seen[id]; !ok {
				delete(l.acks, id)
			}
		}
	}
}
