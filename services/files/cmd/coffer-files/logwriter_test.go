package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// gate is an output whose writes wait until it is opened: a pipe nobody reads yet.
type gate struct {
	mu     sync.Mutex
	open   chan struct{}
	buf    bytes.Buffer
	writes int
}

func (g *gate) Write(p []byte) (int, error) {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writes++
	return g.buf.Write(p)
}

// TestLogWriter: lines are written whole and in order, a stalled output does not hold up
// writers (below the bound), many lines share a write, and Close writes everything.
func TestLogWriter(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	w := newLogWriter(g)
	var want strings.Builder
	for i := range 1000 {
		line := fmt.Sprintf("line %d\n", i)
		want.WriteString(line)
		if _, err := io.WriteString(w, line); err != nil { // must not block on the closed gate
			t.Fatal(err)
		}
	}
	close(g.open)
	w.Close()
	if _, err := io.WriteString(w, "after close\n"); err != nil {
		t.Fatal(err)
	}
	want.WriteString("after close\n")
	g.mu.Lock()
	defer g.mu.Unlock()
	if got := g.buf.String(); got != want.String() {
		t.Errorf("output differs: got %d bytes, want %d", len(got), want.Len())
	}
	if g.writes > 10 {
		t.Errorf("%d writes for 1001 lines, want them batched", g.writes)
	}
}
