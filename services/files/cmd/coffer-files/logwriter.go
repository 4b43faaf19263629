package main

import (
	"io"
	"sync"
)

// logWriter hands log lines to one goroutine that writes them to the real output, many lines
// per write. A request then neither pays a write(2) for its access-log line nor waits, with
// slog's handler lock held, for a pipe that its reader (journald, a container runtime) drains
// late: under load every request queued behind that lock (docs/PERFORMANCE.md). Lines are
// written in order, within a write's time; past maxPending unwritten bytes Write waits, so a
// stalled reader slows logging instead of growing memory. Close writes what is left.
type logWriter struct {
	out io.Writer

	mu      sync.Mutex
	cond    *sync.Cond // signalled when pending is written or the writer closes
	pending []byte
	closed  bool
	wake    chan struct{}
	done    chan struct{}
}

const maxPending = 1 << 20

func newLogWriter(out io.Writer) *logWriter {
	w := &logWriter{out: out, wake: make(chan struct{}, 1), done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// Write queues p (one log line: slog's handlers write a record at once).
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	for len(w.pending) >= maxPending && !w.closed {
		w.cond.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		<-w.done // after what was queued
		return w.out.Write(p)
	}
	w.pending = append(w.pending, p...)
	select { // under mu: Close closes wake under it
	case w.wake <- struct{}{}:
	default:
	}
	w.mu.Unlock()
	return len(p), nil
}

func (w *logWriter) run() {
	defer close(w.done)
	var spare []byte
	for {
		_, open := <-w.wake
		w.mu.Lock()
		b := w.pending
		w.pending = spare[:0]
		w.mu.Unlock()
		if len(b) > 0 {
			_, _ = w.out.Write(b) // nowhere to report a failed log write
		}
		spare = b
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
		if !open {
			return
		}
	}
}

// Close writes what is pending and makes later writes go straight to the output.
func (w *logWriter) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	close(w.wake)
	w.cond.Broadcast()
	w.mu.Unlock()
	<-w.done
}
