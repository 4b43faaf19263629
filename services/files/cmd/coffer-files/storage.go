package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/cofferhq/coffer/services/files/internal/disk"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/gc"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
	"github.com/cofferhq/coffer/services/files/internal/s3"
)

// blobStore is what the service and the garbage collector need of a storage backend.
type blobStore interface {
	files.BlobStore
	files.BlobLister
}

// openBlobStore builds the configured backend.
func openBlobStore(cfg config) (blobStore, error) {
	if cfg.Storage == "s3" {
		s, err := s3.New(s3.Config{
			Endpoint: cfg.S3.Endpoint, Region: cfg.S3.Region, Bucket: cfg.S3.Bucket, Prefix: cfg.S3.Prefix,
			AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey, PartSize: cfg.S3.PartSize,
			SSE: cfg.S3.SSE, SSEKMSKeyID: cfg.S3.KMSKeyID,
		})
		if err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
		return s, nil
	}
	s, err := disk.New(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return s, nil
}

func newCollector(cfg config, blobs blobStore, db *postgres.DB, wait bool, logger *slog.Logger) *gc.Collector {
	gcfg := gc.Config{Grace: cfg.GCGrace, IncompleteAge: cfg.GCIncompleteAge, WaitForLock: wait, BlobGrace: cfg.BlobGrace}
	if res := newResumable(cfg, newService(cfg, blobs, db, logger), blobs, db, logger); res != nil {
		gcfg.Uploads = res
	}
	gcfg.Files = files.NewRetention(db, blobs, nil, logger)
	gcfg.Attempts = db
	return gc.New(blobs, db, db, gcfg, nil, logger)
}

// gcCmd runs the garbage collector once, waiting for any node's run in progress to finish.
func gcCmd(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv, os.ReadFile)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", "files")
	// The direct URL: the collector's lock is a session-level advisory lock.
	pool, err := postgres.NewPool(ctx, cfg.DirectURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	blobs, err := openBlobStore(cfg)
	if err != nil {
		return err
	}
	res, err := newCollector(cfg, blobs, postgres.New(pool), true, logger).RunOnce(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed %d orphan blob(s) and %d interrupted write(s)\n", res.Orphans, res.Incomplete)
	return nil
}
