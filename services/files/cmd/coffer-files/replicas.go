package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofferhq/coffer/services/files/internal/accesscache"
	"github.com/cofferhq/coffer/services/files/internal/fence"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
)

// directPool is the pool of sessions on the primary (advisory locks, migrations): pool itself
// unless COFFER_FILES_DATABASE_DIRECT_URL names another way in (around a transaction pooler).
func directPool(ctx context.Context, cfg config, pool *pgxpool.Pool) (*pgxpool.Pool, error) {
	if cfg.DirectURL == cfg.DatabaseURL {
		return pool, nil
	}
	p, err := postgres.NewPool(ctx, cfg.DirectURL)
	if err != nil {
		return nil, fmt.Errorf("direct database: %w", err)
	}
	return p, nil
}

// startFence starts the node's fence listener on a direct connection to the primary; it stops
// when ctx ends.
func startFence(ctx context.Context, cfg config, logger *slog.Logger) *fence.Listener {
	l := fence.NewListener(fence.Options{
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, cfg.DirectURL) },
		Lease:   cfg.FenceLease,
		Logger:  logger,
	})
	go l.Run(ctx)
	return l
}

// openDB wires the metadata store: the primary, and with COFFER_FILES_DATABASE_REPLICA_URLS
// the replica pools, read under the fences a listener on a direct connection keeps. The
// replica pools and the listener stop when ctx ends.
func openDB(ctx context.Context, cfg config, pool, direct *pgxpool.Pool, reg prometheus.Registerer, logger *slog.Logger) (*postgres.DB, error) {
	opts := postgres.Options{Direct: direct, Logger: logger, AdvisoryUploadLocks: cfg.UploadLock == "advisory", LeaseTTL: cfg.UploadLease}
	var cache *accesscache.Cache
	if len(cfg.ReplicaURLs) > 0 || cfg.AccessCache {
		l := startFence(ctx, cfg, logger)
		opts.Fence = l
		if cfg.AccessCache {
			// Subscribed before the listener's first session: no notice goes unseen.
			cache = accesscache.New(accesscache.Config{Size: cfg.AccessCacheSize, TTL: cfg.AccessCacheTTL}, l, nil)
			l.Subscribe(cache.Drop)
			opts.AccessCache = cache
			registerCacheMetrics(reg, cache)
		}
	}
	if len(cfg.ReplicaURLs) > 0 {
		for i, u := range cfg.ReplicaURLs {
			p, err := postgres.NewPool(ctx, u)
			if err != nil {
				for _, q := range opts.Replicas {
					q.Close()
				}
				return nil, fmt.Errorf("database replica %d: %w", i+1, err)
			}
			opts.Replicas = append(opts.Replicas, p)
		}
		go func() {
			<-ctx.Done()
			for _, p := range opts.Replicas {
				p.Close()
			}
		}()
	}
	db, err := postgres.NewWithOptions(pool, opts)
	if err != nil {
		return nil, err
	}
	go db.Run(ctx)
	return db, nil
}

// registerCacheMetrics exports the access cache's counters.
func registerCacheMetrics(reg prometheus.Registerer, c *accesscache.Cache) {
	counter := func(name, help string, v func(accesscache.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(c.Stats())) })
	}
	reg.MustRegister(
		counter("coffer_files_access_cache_hits_total", "File lookups answered from the node's access cache.", func(s accesscache.Stats) uint64 { return s.Hits }),
		counter("coffer_files_access_cache_misses_total", "File lookups the access cache did not hold (asked the database).", func(s accesscache.Stats) uint64 { return s.Misses }),
		counter("coffer_files_access_cache_bypassed_total", "File lookups that skipped the access cache while its notice subscription was untrusted.", func(s accesscache.Stats) uint64 { return s.Bypassed }),
		counter("coffer_files_access_cache_notices_total", "Revocation notices (and subscription losses) the access cache took.", func(s accesscache.Stats) uint64 { return s.Drops }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "coffer_files_access_cache_grants", Help: "(file, user) grants the access cache holds."},
			func() float64 { return float64(c.Stats().Grants) }),
	)
}
