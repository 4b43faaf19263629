package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"

	"github.com/cofferhq/coffer/pkg/serve"
)

// servePprof serves the Go profiler on its own listener (COFFER_FILES_PPROF_ADDR), apart from
// the API so it is never reachable through the public port. Off by default; `make bench` and
// docs/PERFORMANCE.md use it to see where a request's CPU and allocations go.
func servePprof(ctx context.Context, addr string, logger *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	logger = logger.With("listener", "pprof")
	if err := serve.Run(ctx, logger, mux, nil, serve.Options{Addr: addr}); err != nil {
		logger.Error("pprof listener stopped", "err", err)
	}
}
