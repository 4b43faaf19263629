package serve_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/pkg/serve"
)

var discard = slog.New(slog.DiscardHandler)

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestShutdownDrains: when ctx ends, readiness turns false first, new requests are still
// served during DrainDelay, a request in flight finishes with its full answer, and Run
// returns nil.
func TestShutdownDrains(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, "slow done")
	})
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fast") })

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var ready serve.Readiness
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, discard, mux, &ready, serve.Options{Addr: "127.0.0.1:0", DrainDelay: 3 * time.Second, OnListen: func(a net.Addr) { addrc <- a }})
	}()
	base := "http://" + (<-addrc).String()
	if !ready.Ready() {
		t.Fatal("not ready while serving")
	}

	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	<-started
	cancel()
	waitFor(t, "readiness to turn false", func() bool { return !ready.Ready() })
	resp, err := http.Get(base + "/fast") // within the drain delay: still served
	if err != nil {
		t.Fatalf("request during the drain delay: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("request during the drain delay: %d", resp.StatusCode)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if got := <-slow; got != "slow done" {
		t.Fatalf("in-flight request got %q, want its full answer", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return")
	}
	if _, err := http.Get(base + "/fast"); err == nil {
		t.Fatal("the listener still accepts after Run returned")
	}
}

// TestShutdownTimeout: a request that outlasts ShutdownTimeout makes Run return an error
// instead of hanging.
func TestShutdownTimeout(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	started := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-block
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, discard, h, nil, serve.Options{Listener: ln, ShutdownTimeout: 50 * time.Millisecond})
	}()
	go func() {
		if resp, err := http.Get("http://" + ln.Addr().String()); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "shutdown") {
			t.Fatalf("Run = %v, want a shutdown error", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run hung on a request that never finishes")
	}
}

func TestListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = serve.Run(t.Context(), discard, http.NotFoundHandler(), nil, serve.Options{Addr: ln.Addr().String()})
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Fatalf("Run on a taken address = %v, want the listen error", err)
	}
}
