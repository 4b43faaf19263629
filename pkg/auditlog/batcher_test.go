package auditlog_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/pkg/auditlog"
)

// recorder keeps what was appended, batch by batch. The Batcher's contract is about when and
// in which order it hands events on, whatever stores them (auditpg is tested on PostgreSQL).
type recorder struct {
	mu      sync.Mutex
	batches [][]auditlog.Event
}

func (r *recorder) Append(_ context.Context, events ...auditlog.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, append([]auditlog.Event(nil), events...))
	return nil
}

func (r *recorder) targets() (all []string, largest int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.batches {
		largest = max(largest, len(b))
		for _, e := range b {
			all = append(all, e.Target)
		}
	}
	return all, largest
}

func record(b *auditlog.Batcher, from, to int) {
	for i := from; i < to; i++ {
		b.Record(auditlog.Event{Action: "test", Target: fmt.Sprint(i)})
	}
}

func wantInOrder(t *testing.T, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d events, want %d", len(got), n)
	}
	for i, g := range got {
		if g != fmt.Sprint(i) {
			t.Fatalf("event %d is %q: out of order", i, g)
		}
	}
}

// TestBatcher: every event recorded is written, in order, in batches of at most MaxBatch:
// without Flush within about Interval, with Flush at once, and on Close what is left.
func TestBatcher(t *testing.T) {
	rec := &recorder{}
	b := auditlog.NewBatcher(rec, slog.New(slog.DiscardHandler), auditlog.BatcherConfig{Interval: 20 * time.Millisecond, MaxBatch: 8, Buffer: 1000})
	record(b, 0, 5)
	deadline := time.Now().Add(10 * time.Second)
	for got, _ := rec.targets(); len(got) < 5; got, _ = rec.targets() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s %d of 5 events written without Flush", len(got))
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline, not synchronisation
	}
	record(b, 5, 100)
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, largest := rec.targets()
	wantInOrder(t, got, 100)
	if largest > 8 {
		t.Errorf("a batch of %d events, MaxBatch 8", largest)
	}
	record(b, 100, 150)
	b.Close()
	got, _ = rec.targets()
	wantInOrder(t, got, 150)
	if b.Dropped() != 0 {
		t.Errorf("dropped %d", b.Dropped())
	}
}

// TestBatcherFull: MaxBatch waiting events are written without waiting for the interval.
func TestBatcherFull(t *testing.T) {
	rec := &recorder{}
	b := auditlog.NewBatcher(rec, slog.New(slog.DiscardHandler), auditlog.BatcherConfig{Interval: time.Hour, MaxBatch: 4, Buffer: 100})
	defer b.Close()
	record(b, 0, 4)
	deadline := time.Now().Add(10 * time.Second)
	for got, _ := rec.targets(); len(got) < 4; got, _ = rec.targets() {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 4 events written 10s after MaxBatch were recorded (interval 1h)", len(got))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
