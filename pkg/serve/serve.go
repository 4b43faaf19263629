// Package serve runs an HTTP server until its context ends, then shuts it down the way a load
// balancer needs: readiness fails first, in-flight requests finish, then the process returns.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Options configures Run.
type Options struct {
	// Addr is the listen address, such as "127.0.0.1:8081" or ":8080".
	Addr string
	// Listener, when set, is used instead of listening on Addr.
	Listener net.Listener
	// DrainDelay is how long readiness reports false before the listener closes, so load
	// balancers stop sending new requests. Default 0.
	DrainDelay time.Duration
	// ShutdownTimeout bounds how long in-flight requests may take to finish. Default
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout bounds slow headers (slowloris). Default 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections. Default 2 minutes.
	IdleTimeout time.Duration
	// OnListen is called with the bound address once the server accepts connections.
	OnListen func(addr net.Addr)
}

// DefaultShutdownTimeout is Options.ShutdownTimeout unless configured otherwise.
const DefaultShutdownTimeout = 30 * time.Second

// Readiness is a flag the server flips off when shutdown begins.
type Readiness struct{ stopping atomic.Bool }

// Ready reports whether the server still takes new work.
func (r *Readiness) Ready() bool { return !r.stopping.Load() }

// Run serves h until ctx ends, then drains and shuts down. It returns nil on a clean shutdown.
func Run(ctx context.Context, logger *slog.Logger, h http.Handler, ready *Readiness, opts Options) error {
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.ReadHeaderTimeout == 0 {
		opts.ReadHeaderTimeout = 10 * time.Second
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 2 * time.Minute
	}
	ln := opts.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", opts.Addr)
		if err != nil {
			return fmt.Errorf("serve: listen: %w", err)
		}
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())
	if opts.OnListen != nil {
		opts.OnListen(ln.Addr())
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	if ready != nil {
		ready.stopping.Store(true)
	}
	logger.Info("shutting down", "drain_delay", opts.DrainDelay)
	if opts.DrainDelay > 0 {
		time.Sleep(opts.DrainDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}
