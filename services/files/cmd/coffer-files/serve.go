package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/pkg/auditlog"
	"github.com/cofferhq/coffer/pkg/backoff"
	"github.com/cofferhq/coffer/pkg/metrics"
	"github.com/cofferhq/coffer/pkg/serve"
	"github.com/cofferhq/coffer/pkg/version"
	"github.com/cofferhq/coffer/services/files/internal/api"
	"github.com/cofferhq/coffer/services/files/internal/authclient"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/linktoken"
	"github.com/cofferhq/coffer/services/files/internal/passhash"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
	"github.com/cofferhq/coffer/services/files/internal/tokenauth"
	"github.com/cofferhq/coffer/services/files/internal/webhook"
)

func serveCmd(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(getenv, os.ReadFile)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logs := newLogWriter(stderr)
	defer logs.Close()
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", "files")

	pool, err := postgres.NewPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	direct, err := directPool(ctx, cfg, pool)
	if err != nil {
		return err
	}
	defer direct.Close()
	reg := metrics.NewRegistry()
	db, err := openDB(ctx, cfg, pool, direct, reg, logger)
	if err != nil {
		return err
	}
	reg.MustRegister(metrics.NewPoolCollector("coffer_files", pool))
	jwksMetrics := tokenauth.NewMetrics(reg, nil)
	defer db.Close()
	blobs, err := openBlobStore(cfg)
	if err != nil {
		return err
	}
	verifier, err := tokenauth.New(tokenauth.Options{
		JWKSURL: cfg.JWKSURL, Issuer: cfg.Issuer, Audience: cfg.Audience,
		Leeway: cfg.Leeway, RefreshInterval: cfg.JWKSRefresh, Logger: logger,
		Client: &http.Client{Timeout: 10 * time.Second, Transport: jwksMetrics.Transport(nil)},
	})
	if err != nil {
		return err
	}
	jwksMetrics.WatchKeys(reg, verifier)
	jobs, err := newQueue(cfg, direct, db, blobs, reg, logger)
	if err != nil {
		return err
	}
	svc := newService(cfg, blobs, db, logger)
	guard := files.NewGuard(passhash.New(2), db, files.DefaultGuardConfig(), nil)

	if cfg.PprofAddr != "" {
		go servePprof(ctx, cfg.PprofAddr, logger)
	}
	rd := &readiness{db: db, verifier: verifier}
	go verifier.Run(ctx)
	jobsDone := make(chan struct{}) // closed when the job queue has stopped
	go func() {
		// Migrate in the background, retrying while PostgreSQL is down: the node stays up,
		// reports not ready, and recovers by itself instead of crash-looping.
		if cfg.Migrate {
			err := backoff.Retry(ctx, 200*time.Millisecond, 5*time.Second, func() error {
				_, err := migrateAll(ctx, direct) // under an advisory lock: a session of its own
				return err
			}, func(err error, wait time.Duration) { logger.Warn("migrate failed; retrying", "err", err, "in", wait) })
			if err != nil { // shutting down before the database came up: no queue to wait for
				close(jobsDone)
				return
			}
		}
		rd.migrated.Store(true)
		go func() {
			defer close(jobsDone)
			if err := jobs.Run(ctx); err != nil {
				logger.Error("job queue stopped", "err", err)
			}
		}()
		if cfg.GCInterval > 0 {
			// Every node collects; the collector's advisory lock lets one run at a time.
			newCollector(cfg, blobs, db, false, logger).Run(ctx, cfg.GCInterval)
		}
	}()

	var signer files.LinkSigner
	if cfg.LinkKey != nil {
		if signer, err = linktoken.New(cfg.LinkKey); err != nil {
			return err
		}
	} else {
		logger.Info("signed links disabled: COFFER_FILES_LINK_KEY is not set")
	}
	users, err := authclient.New(authclient.Options{BaseURL: cfg.AuthURL, Timeout: cfg.AuthTimeout})
	if err != nil {
		return err
	}
	links := files.NewLinks(db, blobs, signer, guard, files.LinkConfig{MaxTTL: cfg.LinkMaxTTL}, nil)
	var resumable api.Resumable
	if res := newResumable(cfg, svc, blobs, db, logger); res != nil {
		th, err := newTusHandler(cfg, res, api.Errors{Logger: logger, MaxFileSize: cfg.MaxFileSize}, logger)
		if err != nil {
			return err
		}
		resumable = th
	}
	audit := auditStore(pool)
	var auditor api.Auditor
	if cfg.Audit {
		b := auditlog.NewBatcher(audit, logger, auditlog.DefaultBatcherConfig())
		defer b.Close() // after serve.Run: the drained requests' events are written
		auditor = b
		go audit.PruneEvery(ctx, logger, cfg.AuditRetention, time.Hour)
	}
	var redirect files.BlobURLer
	if cfg.S3.Redirect {
		redirect = blobs.(files.BlobURLer) // the s3 store; config allows redirect only with s3
	}
	srv := api.NewServer(logger, svc, verifier, rd, api.Options{
		Redirect:          redirect,
		Audit:             auditor,
		AuditLog:          audit,
		Quotas:            db,
		DefaultQuota:      cfg.UserQuota,
		Resumable:         resumable,
		Uploads:           files.NewQuota(svc, db, files.QuotaConfig{PerUser: cfg.UserQuota}),
		Shares:            files.NewSharing(db, nil),
		Folders:           files.NewFolders(db, blobs),
		Idempotency:       db,
		Users:             users,
		Links:             links,
		Requests:          files.NewRequests(db, guard, links, nil),
		Retention:         files.NewRetention(db, blobs, nil, logger),
		PublicURL:         cfg.PublicURL,
		WebURL:            cfg.WebURL,
		UploadIdleTimeout: cfg.UploadIdle,
		Metrics:           api.NewMetrics(reg),
		Webhooks:          webhook.NewAdmin(db, jobs, webhook.Guard{AllowLocal: cfg.Events.AllowLocal}, nil),
		CORS:              api.CORS{Origins: cfg.CORSOrigins},
		Version:           version.String(),
	})
	if cfg.MetricsAddr != "" {
		ln, err := metrics.Listen(cfg.MetricsAddr)
		if err != nil {
			return err
		}
		go func() {
			if err := metrics.Serve(ctx, logger, ln, reg); err != nil {
				logger.Error("metrics listener failed", "err", err)
			}
		}()
	}
	err = serve.Run(ctx, logger, srv, &rd.serving, serve.Options{
		Addr: cfg.Addr, DrainDelay: cfg.DrainDelay, ShutdownTimeout: cfg.ShutdownTimeout,
	})
	// The queue lets its running jobs finish (bounded) before the pool closes under it.
	select {
	case <-jobsDone:
	case <-time.After(15 * time.Second):
	}
	return err
}

// readiness is ready when migrations ran, the database answers, a verification key is
// loaded, and shutdown has not begun.
type readiness struct {
	db       *postgres.DB
	verifier *tokenauth.Verifier
	migrated atomic.Bool
	serving  serve.Readiness
}

func (r *readiness) Ready(ctx context.Context) error {
	switch {
	case !r.serving.Ready():
		return &api.NotReadyError{Reason: "shutting down"}
	case !r.migrated.Load():
		return &api.NotReadyError{Reason: "database not migrated yet"}
	case !r.verifier.Ready(ctx):
		return &api.NotReadyError{Reason: "no token verification key loaded"}
	}
	if err := r.db.Ping(ctx); err != nil {
		return &api.NotReadyError{Reason: "database unavailable"}
	}
	return nil
}

func migrateCmd(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv, os.ReadFile)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	pool, err := postgres.NewPool(ctx, cfg.DirectURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	n, err := migrateAll(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s)\n", n)
	return nil
}
