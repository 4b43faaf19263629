package files

import (
	"context"
	"io"
	"time"

	"github.com/google/uuid"
)

// QuotaStore keeps per-user storage reservations. Stored files count against the quota from
// the moment their row is committed; uploads in flight count through reservations.
type QuotaStore interface {
	// ReserveQuota adds between need and want bytes to reservation id of ownerID (creating it),
	// as much as the quota leaves free, and returns how many it added. It returns
	// ErrQuotaExceeded, adding nothing, when fewer than need bytes are free. The check and the
	// update are atomic, so parallel uploads cannot overshoot the quota together. The
	// reservation lapses at ttl from now unless extended by another call.
	ReserveQuota(ctx context.Context, ownerID string, id uuid.UUID, need, want, quota int64, ttl time.Duration) (int64, error)
	// ExtendQuota moves reservation id's lapse to ttl from now; a missing one is not an error.
	ExtendQuota(ctx context.Context, id uuid.UUID, ttl time.Duration) error
	// ReleaseQuota drops reservation id; releasing a missing one is not an error.
	ReleaseQuota(ctx context.Context, id uuid.UUID) error
}

// QuotaConfig holds the quota settings.
type QuotaConfig struct {
	// PerUser is each user's storage quota in bytes. 0 means unlimited.
	PerUser int64
	// Step is the most a streamed upload of undeclared size reserves at a time (it starts
	// with what it has read and doubles). Default 8 MiB.
	Step int64
	// TTL is how long a reservation outlives its last extension (a crashed node's holds
	// lapse after it). An upload extends its reservation every TTL/4 while bytes arrive, so
	// a slow upload keeps its hold however long it takes. Default 1 hour.
	TTL time.Duration
}

// Uploader stores one upload (Service does).
type Uploader interface {
	Upload(ctx context.Context, req UploadRequest) (File, error)
}

// Quota enforces a per-user storage quota around an Uploader.
type Quota struct {
	next  Uploader
	store QuotaStore
	cfg   QuotaConfig
}

// NewQuota wraps next with quota enforcement.
func NewQuota(next Uploader, store QuotaStore, cfg QuotaConfig) *Quota {
	if cfg.Step == 0 {
		cfg.Step = 8 << 20
	}
	if cfg.TTL == 0 {
		cfg.TTL = time.Hour
	}
	return &Quota{next: next, store: store, cfg: cfg}
}

// Upload reserves quota for the declared size (refusing at once when it does not fit), or
// step by step as the bytes of an undeclared size arrive; the upload fails with
// ErrQuotaExceeded as soon as it would overshoot, and the reservation is released whatever
// the outcome: a stored file counts through its row instead. The file gets the reservation's
// id, so the store drops the reservation when it commits the row (see MetadataStore.CreateFile).
func (q *Quota) Upload(ctx context.Context, req UploadRequest) (File, error) {
	if q.cfg.PerUser <= 0 {
		return q.next.Upload(ctx, req)
	}
	r := &quotaReader{ctx: ctx, q: q, owner: req.OwnerID, id: uuid.New(), r: req.Body, extended: time.Now()}
	req.ID = r.id
	defer func() {
		// Release even when the client has gone: the hold must not outlive the request.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = q.store.ReleaseQuota(ctx, r.id) // on failure the reservation lapses at its TTL
	}()
	if req.SizeHint > 0 {
		if err := r.reserve(req.SizeHint, req.SizeHint); err != nil {
			return File{}, err
		}
	}
	req.Body = r
	return q.next.Upload(ctx, req)
}

// quotaReader extends its reservation before handing on bytes beyond it.
type quotaReader struct {
	ctx     context.Context
	q       *Quota
	owner   string
	id      uuid.UUID
	r       io.Reader
	read    int64
	granted int64
	// extended is when the reservation's lapse was last moved on.
	extended time.Time
}

func (r *quotaReader) reserve(need, want int64) error {
	n, err := r.q.store.ReserveQuota(r.ctx, r.owner, r.id, need, want, r.q.cfg.PerUser, r.q.cfg.TTL)
	if err != nil {
		return err
	}
	r.granted += n
	r.extended = time.Now()
	return nil
}

func (r *quotaReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.read += int64(n)
	switch {
	case r.read > r.granted:
		need := r.read - r.granted
		// Grow geometrically up to Step: few round trips for a large upload, yet a small one
		// does not hold far more than it needs while parallel uploads compete for the rest.
		if e := r.reserve(need, max(need, min(r.q.cfg.Step, r.granted))); e != nil {
			return 0, e
		}
	case n > 0 && r.granted > 0 && time.Since(r.extended) >= r.q.cfg.TTL/4:
		// Bytes still arrive: the hold must not lapse under a long upload.
		if e := r.q.store.ExtendQuota(r.ctx, r.id, r.q.cfg.TTL); e != nil {
			return 0, e
		}
		r.extended = time.Now()
	}
	return n, err
}
