package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/backoff"
	"github.com/cofferhq/coffer/pkg/metrics"
	"github.com/cofferhq/coffer/pkg/serve"
	"github.com/cofferhq/coffer/pkg/version"
	"github.com/cofferhq/coffer/services/auth/internal/api"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"github.com/cofferhq/coffer/services/auth/internal/keys"
	"github.com/cofferhq/coffer/services/auth/internal/password"
	"github.com/cofferhq/coffer/services/auth/internal/postgres"
)

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("service", "auth")
}

func serveCmd(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(getenv, true)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logger := newLogger(stderr, cfg.LogLevel)

	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	db := postgres.New(pool)

	km, err := keys.NewManager(db, keyOptions(cfg, logger))
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry()
	reg.MustRegister(metrics.NewPoolCollector("coffer_auth", pool), keys.NewCollector(km, nil))
	issuer := keys.NewIssuer(km, cfg.Issuer, cfg.Audience, cfg.AccessTTL, nil)
	hasher := password.NewHasher(password.DefaultParams, cfg.HashWorkers)
	svc := auth.NewService(stores(db), hasher, issuer, serviceConfig(cfg), nil)
	audit := auditStore(pool)
	svc.SetAuditor(audit)
	svc.SetAuditErrorHandler(func(ctx context.Context, action string, err error) {
		logger.ErrorContext(ctx, "audit record lost", "action", action, "err", err)
	})
	if err := useIdentity(svc, cfg); err != nil {
		return err
	}

	// The listener comes up at once; the service reports ready only after the database is
	// migrated and a signing key is loaded, retrying while PostgreSQL is unreachable.
	var started atomic.Bool
	var readiness serve.Readiness
	ready := func() bool { return started.Load() && readiness.Ready() }
	verifier := keys.NewVerifier(km, cfg.Issuer, cfg.Audience, accesstoken.DefaultLeeway, nil)
	srv := api.NewServer(logger, api.Config{Issuer: cfg.Issuer, JWKSMaxAge: cfg.JWKSMaxAge, TrustedProxies: cfg.Proxies, Metrics: api.NewMetrics(reg), Version: version.String(), Audit: audit}, svc, km, verifier, db, ready)
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

	go func() {
		err := backoff.Retry(ctx, 100*time.Millisecond, 5*time.Second, func() error {
			err := start(ctx, pool, km, cfg)
			if errors.Is(err, keys.ErrKEK) { // a bad key-encryption key is not worth retrying
				logger.Error("start failed; not retrying", "err", err)
				return backoff.Permanent(err)
			}
			return err
		}, func(err error, wait time.Duration) { logger.Warn("start failed; retrying", "err", err, "in", wait) })
		if err != nil {
			return
		}
		started.Store(true)
		logger.Info("ready", "issuer", cfg.Issuer, "signup", cfg.Signup)
		go sweep(ctx, logger, svc, cfg.LoginWindow)
		go audit.PruneEvery(ctx, logger, cfg.AuditRetention, time.Hour)
		km.Run(ctx, cfg.KeyReload)
	}()

	return serve.Run(ctx, logger, srv, &readiness, serve.Options{Addr: cfg.Addr, DrainDelay: cfg.DrainDelay})
}

// sweep deletes expired refresh tokens and old login counts every interval until ctx ends.
func sweep(ctx context.Context, logger *slog.Logger, svc *auth.Service, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := svc.Sweep(ctx); err != nil && ctx.Err() == nil {
				logger.Warn("sweep expired rows", "err", err)
			}
		}
	}
}

func start(ctx context.Context, pool *pgxpool.Pool, km *keys.Manager, cfg config) error {
	if cfg.Migrate {
		if _, err := postgres.Migrate(ctx, pool); err != nil {
			return err
		}
	}
	if err := km.Bootstrap(ctx); err != nil {
		return err
	}
	return km.Step(ctx)
}

func migrateCmd(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv, false)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	n, err := postgres.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s)\n", n)
	return nil
}

// keyOptions derives the rotation contract from the settings that verifiers depend on.
func keyOptions(cfg config, logger *slog.Logger) keys.Options {
	return keys.Options{KEK: cfg.KEK, Bits: cfg.KeyBits, Logger: logger, Rotation: keys.Rotation{
		Interval: cfg.KeyRotation,
		// Two JWKS cache lifetimes, plus the time replicas take to notice the new key.
		PublishLead: 2*cfg.JWKSMaxAge + cfg.KeyReload,
		// Every token the key signed has expired, verifiers' leeway included, counting from
		// the last replica to stop signing with it.
		RetainAfterRetire: cfg.AccessTTL + cfg.KeyLeeway + cfg.KeyReload,
	}}
}

func stores(db *postgres.DB) auth.Stores {
	return auth.Stores{Users: db, Refresh: db, Clients: db, Throttle: db, Codes: db, Sessions: db,
		TOTP: db, Identities: db, Invitations: db, Account: db, Admin: db}
}

func serviceConfig(cfg config) auth.Config {
	return auth.Config{
		SignupEnabled: cfg.Signup, RefreshTTL: cfg.RefreshTTL, RefreshIdleTTL: cfg.RefreshIdle,
		LoginWindow: cfg.LoginWindow, PairAttempts: cfg.PairMax, AccountAttempts: cfg.AccountMax, AddressAttempts: cfg.AddressMax,
		RefreshReuseInterval: cfg.ReuseWindow, SessionTTL: cfg.SessionTTL, RefreshKey: refreshKey(cfg.KEK),
		MFARequired: cfg.Identity.MFARequired, UpstreamMFAExempt: cfg.Identity.UpstreamExempt, InvitationTTL: cfg.Identity.InvitationTTL,
	}
}

// refreshKey derives the key of refresh-token successors from the key-encryption key, which
// every replica shares (nil without a KEK: admin commands do not refresh).
func refreshKey(kek []byte) []byte {
	if kek == nil {
		return nil
	}
	k, err := hkdf.Key(sha256.New, kek, nil, "coffer-auth refresh successor v1", 32)
	if err != nil {
		panic(err) // only for lengths HKDF-SHA256 cannot produce
	}
	return k
}
