// Package gc is the file service's garbage collector. It removes what interrupted work leaves
// in the blob store: temporary files and multipart uploads of uploads that a crash cut short,
// and orphan blobs, complete blobs that no file row references (a crash between the blob's
// write and its row's commit, or a delete whose blob removal failed).
//
// It is safe to run on every node at once: a PostgreSQL advisory lock lets one node collect at
// a time, and every removal is idempotent, so even two collectors racing would only both
// delete what is garbage. Blobs younger than a grace period are never touched, so an upload in
// flight, whose row is not committed yet, keeps its blob. Only keys of the form the service
// gives blobs (files.IsBlobKey) are considered, so other objects in a shared bucket are safe.
//
// A deleted file's blob is kept for BlobGrace after the deletion (which the database records),
// so a database restored to an earlier point finds its bytes; a blob no row of the restored
// database knows (written after that point) is an orphan and is collected.
package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Store is what the collector needs of a blob store. If it also implements
// files.IncompleteSweeper, interrupted writes are swept too.
type Store interface {
	files.BlobStore
	files.BlobLister
}

// Refs tells which blobs are referenced by a file row.
type Refs interface {
	// MissingBlobKeys returns the keys among keys that no file or upload references and
	// whose file was not deleted after deletedSince (those are kept for the blob grace).
	MissingBlobKeys(ctx context.Context, keys []string, deletedSince time.Time) ([]string, error)
	// PruneDeletedBlobs forgets the deletions recorded before t and returns how many.
	PruneDeletedBlobs(ctx context.Context, before time.Time) (int64, error)
}

// Locker is a lock shared by all nodes.
type Locker interface {
	// Lock takes lock id, waiting for it if wait is set; ok is false when it is held
	// elsewhere and wait is not set. release gives it back.
	Lock(ctx context.Context, id int64, wait bool) (release func(), ok bool, err error)
}

// Uploads removes resumable uploads past their expiry: their bytes, rows and quota
// reservations (files.Resumable).
type Uploads interface {
	// ExpireUploads removes the uploads that expired before now and returns how many.
	ExpireUploads(ctx context.Context, now time.Time) (int, error)
}

// Files deletes files past their expiry (files.Retention).
type Files interface {
	// ExpireFiles deletes the files that expired at or before now and returns how many.
	ExpireFiles(ctx context.Context, now time.Time) (int, error)
}

// Attempts forgets ended windows of password attempts on links and file requests (their
// rows are keyed by any id someone tried, so they would otherwise grow without bound).
type Attempts interface {
	// ForgetAttempts removes the windows that ended before now and returns how many.
	ForgetAttempts(ctx context.Context, now time.Time) (int, error)
}

// LockID is the advisory lock the collectors of all file nodes share ("coffergc").
const LockID int64 = 0x636f6666657267

// Config tunes the collector. DefaultConfig holds the defaults.
type Config struct {
	// Interval is how often a periodic collector runs (cmd/coffer-files passes it to Run).
	Interval time.Duration
	// Grace is the age below which an unreferenced blob is kept, since its upload may still
	// be about to commit its row.
	Grace time.Duration
	// IncompleteAge is the age beyond which an interrupted write (temporary file, multipart
	// upload) is swept. It must exceed the longest upload on S3, where a multipart upload's
	// age counts from its start.
	IncompleteAge time.Duration
	// WaitForLock makes a run wait for another node's run to finish rather than skip.
	// Default false (periodic runs skip; one-off runs from the gc command wait).
	WaitForLock bool
	// BatchSize is how many blob keys are checked against the database at once.
	BatchSize int
	// BlobGrace is how long a deleted file's blob is kept after its deletion. Default 0
	// (collected at the next run); the service configures files.DefaultConfig().BlobGrace.
	BlobGrace time.Duration
	// Uploads, when set, has its expired resumable uploads removed on every run.
	Uploads Uploads
	// Files, when set, has its expired files deleted on every run.
	Files Files
	// Attempts, when set, has its ended password-attempt windows removed on every run.
	Attempts Attempts
}

// DefaultConfig is the collector's settings unless configured otherwise, and the one place
// their defaults are written: cmd/coffer-files reads its environment over it.
func DefaultConfig() Config {
	return Config{Interval: time.Hour, Grace: time.Hour, IncompleteAge: 24 * time.Hour, BatchSize: 500}
}

// Collector removes garbage from a blob store.
type Collector struct {
	blobs  Store
	refs   Refs
	locker Locker
	cfg    Config
	now    func() time.Time
	logger *slog.Logger
}

// New returns a Collector. locker may be nil when only one collector ever runs.
func New(blobs Store, refs Refs, locker Locker, cfg Config, now func() time.Time, logger *slog.Logger) *Collector {
	def := DefaultConfig()
	if cfg.Grace == 0 {
		cfg.Grace = def.Grace
	}
	if cfg.IncompleteAge == 0 {
		cfg.IncompleteAge = def.IncompleteAge
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = def.BatchSize
	}
	if now == nil {
		now = time.Now
	}
	return &Collector{blobs: blobs, refs: refs, locker: locker, cfg: cfg, now: now, logger: logger}
}

// Result counts what one run removed.
type Result struct {
	Orphans    int  // unreferenced blobs deleted
	Incomplete int  // temporary files or multipart uploads removed
	Uploads    int  // expired resumable uploads removed
	Expired    int  // files deleted at their expiry
	Attempts   int  // ended password-attempt windows forgotten
	Skipped    bool // another node held the lock
}

// RunOnce collects once.
func (c *Collector) RunOnce(ctx context.Context) (Result, error) {
	var res Result
	if c.locker != nil {
		release, ok, err := c.locker.Lock(ctx, LockID, c.cfg.WaitForLock)
		if err != nil {
			return res, fmt.Errorf("gc: %w", err)
		}
		if !ok {
			res.Skipped = true
			return res, nil
		}
		defer release()
	}
	now := c.now()
	var errs []error
	if sw, ok := c.blobs.(files.IncompleteSweeper); ok {
		n, err := sw.SweepIncomplete(ctx, now.Add(-c.cfg.IncompleteAge))
		res.Incomplete = n
		if err != nil {
			errs = append(errs, fmt.Errorf("gc: sweep incomplete writes: %w", err))
		}
	}
	if c.cfg.Uploads != nil {
		n, err := c.cfg.Uploads.ExpireUploads(ctx, now)
		res.Uploads = n
		if err != nil {
			errs = append(errs, fmt.Errorf("gc: expire uploads: %w", err))
		}
	}
	if c.cfg.Files != nil {
		n, err := c.cfg.Files.ExpireFiles(ctx, now)
		res.Expired = n
		if err != nil {
			errs = append(errs, fmt.Errorf("gc: expire files: %w", err))
		}
	}
	if c.cfg.Attempts != nil {
		n, err := c.cfg.Attempts.ForgetAttempts(ctx, now)
		res.Attempts = n
		if err != nil {
			errs = append(errs, fmt.Errorf("gc: forget password attempts: %w", err))
		}
	}
	batch := make([]string, 0, c.cfg.BatchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		missing, err := c.refs.MissingBlobKeys(ctx, batch, now.Add(-c.cfg.BlobGrace))
		batch = batch[:0]
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		for _, k := range missing {
			if err := c.blobs.Delete(ctx, k); err != nil {
				return fmt.Errorf("gc: delete orphan blob: %w", err)
			}
			res.Orphans++
			c.logger.Debug("orphan blob deleted", "key", k)
		}
		return nil
	}
	err := c.blobs.ListBlobs(ctx, now.Add(-c.cfg.Grace), func(bi files.BlobInfo) error {
		if !files.IsBlobKey(bi.Key) {
			return nil // not made by the service: never ours to delete
		}
		batch = append(batch, bi.Key)
		if len(batch) < c.cfg.BatchSize {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		errs = append(errs, err)
	} else if _, err := c.refs.PruneDeletedBlobs(ctx, now.Add(-c.cfg.BlobGrace)); err != nil {
		// Only after a complete pass: a blob whose grace ended is then gone, or an orphan
		// the next pass collects.
		errs = append(errs, fmt.Errorf("gc: prune deleted blobs: %w", err))
	}
	return res, errors.Join(errs...)
}

// Run collects now and then every interval until ctx ends. Failures are logged and retried at
// the next tick.
func (c *Collector) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := c.RunOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			c.logger.Warn("garbage collection failed", "err", err)
		case res.Orphans > 0 || res.Incomplete > 0 || res.Uploads > 0 || res.Expired > 0 || res.Attempts > 0:
			c.logger.Info("garbage collected", "orphans", res.Orphans, "incomplete", res.Incomplete, "expired_uploads", res.Uploads,
				"expired_files", res.Expired, "password_attempts", res.Attempts)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
