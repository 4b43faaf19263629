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
	if cfg.Storage == "s3" && cfg.GCInterval > 0 && cfg.GCIncompleteAge < cfg.UploadExpiry {
		// An unfinished upload's bytes are an S3 multipart upload, which the collector aborts
		// at COFFER_FILES_GC_INCOMPLETE_AGE after its start.
		logger.Warn("COFFER_FILES_GC_INCOMPLETE_AGE is shorter than COFFER_FILES_UPLOAD_EXPIRY: resumable uploads older than it lose their bytes",
			"incomplete_age", cfg.GCIncompleteAge, "upload_expiry", cfg.UploadExpiry)
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
