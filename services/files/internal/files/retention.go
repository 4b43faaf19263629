package files

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// MaxRetention bounds a file's expiry from now (about a century): beyond it means never.
const MaxRetention = 100 * 365 * 24 * time.Hour

// RetentionStore keeps file expiries.
type RetentionStore interface {
	// SetFileExpiry sets (or, with nil, clears) the expiry of ownerID's file and returns the
	// file; ErrNotFound if ownerID does not own it.
	SetFileExpiry(ctx context.Context, ownerID string, id uuid.UUID, expiresAt *time.Time) (File, error)
	// TakeExpiredFiles deletes up to limit files whose expiry is at or before now, with their
	// links and shares, and returns them. Each row goes to exactly one caller, whichever node
	// asks and however many ask at once; its bytes leave the owner's quota in the same step.
	TakeExpiredFiles(ctx context.Context, now time.Time, limit int) ([]File, error)
}

// Retention deletes files at their expiry.
type Retention struct {
	store  RetentionStore
	blobs  BlobStore
	now    func() time.Time
	logger *slog.Logger
	// Expired, when set, is told of every file retention deleted, once, after its row is
	// gone: the one place a file.expired event is published from.
	Expired func(ctx context.Context, f File)
}

// NewRetention wires Retention; now defaults to time.Now.
func NewRetention(store RetentionStore, blobs BlobStore, now func() time.Time, logger *slog.Logger) *Retention {
	if now == nil {
		now = time.Now
	}
	return &Retention{store: store, blobs: blobs, now: now, logger: logger}
}

// SetExpiry sets when ownerID's file is deleted, or clears it with nil. The time must lie in
// the future (at most MaxRetention ahead).
func (r *Retention) SetExpiry(ctx context.Context, ownerID string, id uuid.UUID, expiresAt *time.Time) (File, error) {
	if expiresAt != nil {
		now := r.now()
		if !expiresAt.After(now) || expiresAt.Sub(now) > MaxRetention {
			return File{}, Invalid("expires_at must lie in the future, within %d days", int(MaxRetention/(24*time.Hour)))
		}
		t := expiresAt.UTC().Truncate(time.Microsecond)
		expiresAt = &t
	}
	return r.store.SetFileExpiry(ctx, ownerID, id, expiresAt)
}

// ExpireFiles deletes the files whose expiry has passed: their rows first (the files vanish
// at once, their links and shares with them, their bytes leave the quota), then their blobs
// (a failure leaves an orphan for the collector). It returns how many it deleted.
func (r *Retention) ExpireFiles(ctx context.Context, now time.Time) (int, error) {
	n := 0
	for {
		list, err := r.store.TakeExpiredFiles(ctx, now, 100)
		if err != nil {
			return n, err
		}
		for _, f := range list {
			if err := r.blobs.Delete(ctx, f.BlobKey); err != nil {
				r.logger.Warn("delete expired file's blob; the collector will retry", "id", f.ID, "err", err)
			}
			if r.Expired != nil {
				r.Expired(ctx, f)
			}
		}
		n += len(list)
		if len(list) < 100 {
			return n, nil
		}
	}
}
