package auditlog

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Appender stores events in order (auditpg.Store).
type Appender interface {
	Append(ctx context.Context, events ...Event) error
}

// Batcher records events off the request path: Record hands an event to a buffered channel
// and returns at once; one goroutine appends what has gathered every Interval, or sooner once
// MaxBatch events wait, in one transaction. It keeps a download from waiting for a database
// round trip.
//
// What a crash loses: the events still in the channel or in the batch being written, at most
// Interval's worth (and never more than Buffer events). When the channel is full (the
// database slower than the traffic) Record drops the event and counts it (Dropped) rather
// than slow the request; a failed append is retried once, then its batch is dropped, counted
// and logged.
type Batcher struct {
	store    Appender
	logger   *slog.Logger
	interval time.Duration
	maxBatch int
	ch       chan Event
	dropped  atomic.Int64
	done     chan struct{}
	flush    chan chan struct{}
	stop     sync.Once
}

// BatcherConfig holds a Batcher's settings; DefaultBatcherConfig its defaults.
type BatcherConfig struct {
	Interval time.Duration // how long an event may wait before it is written
	MaxBatch int           // events written in one transaction at most
	Buffer   int           // events waiting at most; past it Record drops
}

// DefaultBatcherConfig is the one place the Batcher's defaults are written.
func DefaultBatcherConfig() BatcherConfig {
	return BatcherConfig{Interval: 200 * time.Millisecond, MaxBatch: 512, Buffer: 8192}
}

// NewBatcher starts a Batcher; Close stops it after writing what it holds.
func NewBatcher(store Appender, logger *slog.Logger, cfg BatcherConfig) *Batcher {
	def := DefaultBatcherConfig()
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = def.MaxBatch
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = def.Buffer
	}
	b := &Batcher{store: store, logger: logger, interval: cfg.Interval, maxBatch: cfg.MaxBatch, ch: make(chan Event, cfg.Buffer), done: make(chan struct{}), flush: make(chan chan struct{})}
	go b.run()
	return b
}

// Record queues e without waiting; At is set now if zero.
func (b *Batcher) Record(e Event) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	select {
	case b.ch <- e:
	default:
		b.dropped.Add(1)
	}
}

// Dropped is how many events were lost to a full buffer or a failed write.
func (b *Batcher) Dropped() int64 { return b.dropped.Load() }

// Close writes the events already queued and stops. Record must not be called after it.
func (b *Batcher) Close() {
	b.stop.Do(func() { close(b.ch) })
	<-b.done
}

// Flush waits until every event recorded before it is written (tests, shutdown).
func (b *Batcher) Flush(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case b.flush <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Batcher) run() {
	defer close(b.done)
	t := time.NewTicker(b.interval)
	defer t.Stop()
	batch := make([]Event, 0, b.maxBatch)
	for {
		var reply chan struct{}
		select {
		case e, ok := <-b.ch:
			if !ok {
				b.write(batch)
				return
			}
			batch = append(batch, e)
			if len(batch) < b.maxBatch {
				continue
			}
		case <-t.C:
		case reply = <-b.flush:
			// Everything recorded before Flush is in the channel now: take it all.
			for n := len(b.ch); n > 0; n-- {
				batch = append(batch, <-b.ch)
			}
		}
		b.write(batch)
		batch = batch[:0]
		if reply != nil {
			close(reply)
		}
	}
}

func (b *Batcher) write(batch []Event) {
	if len(batch) == 0 {
		return
	}
	var err error
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = b.store.Append(ctx, batch...)
		cancel()
		if err == nil {
			return
		}
	}
	b.dropped.Add(int64(len(batch)))
	b.logger.Error("audit records lost", "count", len(batch), "err", err)
}
