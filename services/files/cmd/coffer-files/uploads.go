package main

import (
	"log/slog"

	"github.com/cofferhq/coffer/services/files/internal/api"
	"github.com/cofferhq/coffer/services/files/internal/blobcache"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
	"github.com/cofferhq/coffer/services/files/internal/tus"
	"github.com/cofferhq/coffer/services/files/internal/webhook"
)

// newService builds the file service's domain over the database and the blob store.
func newService(cfg config, blobs blobStore, db *postgres.DB, logger *slog.Logger) *files.Service {
	var b files.BlobStore = blobs
	if cfg.BlobCache > 0 {
		// A repeated small download opens no file (disk) and sends no GET to the object
		// store (S3); with the access cache it asks no database either.
		b = blobcache.Wrap(blobs, blobcache.Config{Budget: cfg.BlobCache})
	}
	svc := files.NewService(db, b, files.Config{
		MaxFileSize: cfg.MaxFileSize, UploadExpiry: cfg.UploadExpiry, BlobGrace: cfg.BlobGrace, Scan: cfg.Events.ClamdAddr != "",
		DefaultRetention: cfg.DefaultRetention,
	}, nil, logger)
	if e := cfg.Events; e.HookURL != "" {
		guard := webhook.Guard{AllowLocal: e.AllowLocal}
		svc.UsePreCreateHook(&webhook.Hook{
			URL: e.HookURL, Secret: e.HookSecret, FailOpen: e.HookFailOpen,
			Sender: webhook.NewSender(guard.Client(e.HookTimeout), nil), Logger: logger,
		})
	}
	return svc
}

// newResumable builds the resumable uploads of svc, or nil if the blob store cannot append.
func newResumable(cfg config, svc *files.Service, blobs blobStore, db *postgres.DB, logger *slog.Logger) *files.Resumable {
	ab, ok := blobs.(files.AppendStore)
	if !ok {
		return nil
	}
	if cfg.Storage == "s3" && cfg.GCInterval > 0 && cfg.GCIncompleteAge < cfg.UploadExpiry {
		// An unfinished upload's bytes are an S3 multipart upload, which the collector aborts
		// at COFFER_FILES_GC_INCOMPLETE_AGE after its start.
		logger.Warn("COFFER_FILES_GC_INCOMPLETE_AGE is shorter than COFFER_FILES_UPLOAD_EXPIRY: resumable uploads older than it lose their bytes",
			"incomplete_age", cfg.GCIncompleteAge, "upload_expiry", cfg.UploadExpiry)
	}
	res := files.NewResumable(svc, db, ab, db, cfg.UserQuota, db.UploadLocks())
	res.UseRequests(db) // uploads through file requests
	return res
}

// newTusHandler serves res over the tus protocol at /v1/uploads/.
func newTusHandler(cfg config, res *files.Resumable, errs api.Errors, logger *slog.Logger) (*tus.Handler, error) {
	base := "/v1/uploads/"
	if cfg.PublicURL != "" {
		base = cfg.PublicURL + base
	}
	return tus.NewHandler(tus.NewStore(res, tus.Config{BasePath: base, IdleTimeout: cfg.UploadIdle, Problem: errs.Problem}), logger)
}
