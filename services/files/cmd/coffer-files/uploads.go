package main

import (
	"log/slog"

	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
	"github.com/cofferhq/coffer/services/files/internal/tus"
)

// newUploadStore builds the store of resumable uploads, or nil if the blob store cannot
// append.
func newUploadStore(cfg config, blobs blobStore, db *postgres.DB, logger *slog.Logger) *tus.Store {
	ab, ok := blobs.(tus.Blobs)
	if !ok {
		return nil
	}
	base := "/v1/uploads/"
	if cfg.PublicURL != "" {
		base = cfg.PublicURL + base
	}
	var quota files.QuotaStore
	if cfg.UserQuota > 0 {
		quota = db
	}
	return tus.NewStore(db, ab, quota, db, tus.Config{
		MaxSize: cfg.MaxFileSize, Expiry: cfg.UploadExpiry, Quota: cfg.UserQuota,
		BasePath: base, IdleTimeout: cfg.UploadIdle,
	}, nil, logger)
}
