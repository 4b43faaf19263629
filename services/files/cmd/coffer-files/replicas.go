package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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

// openDB wires the metadata store: the primary, and with COFFER_FILES_DATABASE_REPLICA_URLS
// the replica pools, read under the fences a listener on a direct connection keeps. The
// replica pools and the listener stop when ctx ends.
func openDB(ctx context.Context, cfg config, pool, direct *pgxpool.Pool, logger *slog.Logger) (*postgres.DB, error) {
	opts := postgres.Options{Direct: direct, Logger: logger, AdvisoryUploadLocks: cfg.UploadLock == "advisory", LeaseTTL: cfg.UploadLease}
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
		l := fence.NewListener(fence.Options{
			Connect: func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, cfg.DirectURL) },
			Lease:   cfg.FenceLease,
			Logger:  logger,
		})
		opts.Fence = l
		go l.Run(ctx)
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
