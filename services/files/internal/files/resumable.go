package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/google/uuid"
)

// AppendStore is the blob store of resumable uploads: one that can build a blob over several
// writes.
type AppendStore interface {
	BlobStore
	Appender
}

// UploadLocker serialises the requests of one resumable upload across every file node
// (postgres.DB.LockUpload).
type UploadLocker interface {
	// LockUpload takes upload id's lock, asking its holder to let go (its onRelease runs),
	// until ctx ends. unlock releases it.
	LockUpload(ctx context.Context, id uuid.UUID, onRelease func()) (unlock func(), err error)
}

// Resumable holds the rules of resumable uploads, whatever protocol carries them (package tus
// adapts tusd to it): the quota hold for the declared size, the expiry, the SHA-256 state
// carried from request to request, and the completion that turns an upload into a file. It
// shares Service's begin and commit with direct uploads, so both paths start and end alike.
//
// Every method that reads or changes one upload expects the caller to hold its lock (Lock).
type Resumable struct {
	svc     *Service
	uploads UploadStore
	blobs   AppendStore
	quota   QuotaStore // nil when there is no quota
	perUser int64      // the per-user quota in bytes; 0 means unlimited
	locks   UploadLocker
	// requests, when set, takes uploads through file requests (UseRequests).
	requests RequestStore
}

// UseRequests lets uploads arrive through file requests kept in store: their limits are
// reserved at creation, each write checks the request is still open, and an upload that
// ends without a file gives its reservation back.
func (r *Resumable) UseRequests(store RequestStore) { r.requests = store }

// NewResumable wires the resumable uploads of svc. quota may be nil, and is unused, when
// perUserQuota is 0 (unlimited).
func NewResumable(svc *Service, uploads UploadStore, blobs AppendStore, quota QuotaStore, perUserQuota int64, locks UploadLocker) *Resumable {
	if quota == nil {
		perUserQuota = 0
	}
	return &Resumable{svc: svc, uploads: uploads, blobs: blobs, quota: quota, perUser: perUserQuota, locks: locks}
}

// MaxFileSize is the largest upload in bytes.
func (r *Resumable) MaxFileSize() int64 { return r.svc.cfg.MaxFileSize }

// Expiry is how long an unfinished upload lives.
func (r *Resumable) Expiry() time.Duration { return r.svc.cfg.UploadExpiry }

// NewUpload describes a resumable upload to create.
type NewUpload struct {
	OwnerID     string
	Name        string
	ContentType string // "" means application/octet-stream
	Size        int64  // declared at creation, required
	// WantSHA256, when set, is the client's digest of the whole file, checked at completion.
	WantSHA256 []byte
	// ExpiresIn, when positive, is how long the file is kept (retention); 0: the default.
	ExpiresIn time.Duration
	// Request, when set, is the file request (Requests.Admit) the upload arrives through,
	// into its owner's space; UploaderName is the name its uploader gave.
	Request      *Request
	UploaderName string
	// IdempotencyKey, when set, is the creation's Idempotency-Key (see ByIdempotencyKey).
	IdempotencyKey string
}

// Create begins a resumable upload: it checks the new file like a direct upload's (Service's
// begin), holds the owner's quota for the whole declared size until the upload ends, and
// records the upload. ErrTooLarge if Size exceeds the limit, ErrQuotaExceeded if it does not
// fit the quota, an *InputError for a bad name.
func (r *Resumable) Create(ctx context.Context, req NewUpload) (Upload, error) {
	switch {
	case req.Size < 0:
		return Upload{}, Invalid("the upload's length is required")
	case req.Size > r.svc.cfg.MaxFileSize:
		return Upload{}, ErrTooLarge
	}
	f, err := r.svc.begin(ctx, PreCreate{OwnerID: req.OwnerID, Name: req.Name, ContentType: req.ContentType, Size: req.Size, Upload: "resumable"}, uuid.Nil)
	if err != nil {
		return Upload{}, err
	}
	state, err := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return Upload{}, err
	}
	now := r.svc.now().UTC().Truncate(time.Microsecond)
	u := Upload{
		ID: f.ID, OwnerID: f.OwnerID, Name: f.Name, ContentType: f.ContentType, Size: req.Size,
		HashState: state, WantSHA256: req.WantSHA256, CreatedAt: now, ExpiresAt: now.Add(r.svc.cfg.UploadExpiry),
		IdempotencyKey: req.IdempotencyKey,
	}
	if req.ExpiresIn > 0 {
		u.FileExpiresAt = r.svc.Expiry(now, req.ExpiresIn)
	}
	if q := req.Request; q != nil {
		if r.requests == nil || q.OwnerID != req.OwnerID {
			return Upload{}, ErrNotFound
		}
		if err := ValidateUploaderName(*q, req.UploaderName); err != nil {
			return Upload{}, err
		}
		// The request's limits before a byte is stored, atomically (parallel uploads
		// cannot pass them together); given back below if the upload cannot begin.
		if err := r.requests.ReserveRequestUpload(ctx, q.ID, u.Size, now); err != nil {
			return Upload{}, err
		}
		u.RequestID, u.UploaderName = &q.ID, req.UploaderName
	}
	release := func() {
		if u.RequestID != nil {
			_ = r.requests.ReleaseRequestUpload(context.WithoutCancel(ctx), *u.RequestID, u.Size)
		}
	}
	if r.perUser > 0 {
		// The hold outlives the upload by a margin: the collector releases it at expiry.
		if _, err := r.quota.ReserveQuota(ctx, u.OwnerID, u.ID, u.Size, u.Size, r.perUser, u.ExpiresAt.Sub(now)+time.Hour); err != nil {
			release()
			return Upload{}, err
		}
	}
	if err := r.uploads.CreateUpload(ctx, u); err != nil {
		if r.perUser > 0 {
			_ = r.quota.ReleaseQuota(context.WithoutCancel(ctx), u.ID) // else it lapses
		}
		release()
		return Upload{}, err
	}
	return u, nil
}

// ByIdempotencyKey returns ownerID's upload created with key, so a retried creation answers
// with it (the client then asks its offset and goes on, or finds it complete); ErrNotFound if
// there is none.
func (r *Resumable) ByIdempotencyKey(ctx context.Context, ownerID, key string) (Upload, error) {
	return r.uploads.UploadByIdempotencyKey(ctx, ownerID, key)
}

// Get returns ownerID's upload as stored; ErrNotFound if there is none (another user's too).
func (r *Resumable) Get(ctx context.Context, ownerID string, id uuid.UUID) (Upload, error) {
	return r.uploads.UploadByID(ctx, ownerID, id)
}

// Expired reports whether u is unfinished and past its expiry.
func (r *Resumable) Expired(u Upload) bool {
	return u.CompletedAt == nil && r.svc.now().After(u.ExpiresAt)
}

// Resume returns ownerID's upload, as Get does, for a request that holds its lock. An upload
// whose bytes are all durable but whose completion was cut short (a crash, a lost database) is
// completed first, so a client that resumes finds its file.
func (r *Resumable) Resume(ctx context.Context, ownerID string, id uuid.UUID) (Upload, error) {
	u, err := r.uploads.UploadByID(ctx, ownerID, id)
	if err != nil {
		return Upload{}, err
	}
	if u.CompletedAt == nil && u.Received == u.Size && u.Size > 0 {
		if _, err := r.Complete(ctx, &u, nil); err != nil {
			return Upload{}, err
		}
	}
	return u, nil
}

// Write appends body to u at offset, hashing it on the way into the digest state saved after
// the previous write, then records the new offset and state together; u is updated. When
// chunkSum is set it is the SHA-256 of this body: a body that does not match is dropped with
// ErrChecksumMismatch, offset unchanged. A body cut short is kept as far as it arrived (without
// a checksum to check). ErrOffsetMoved if offset is not where u ends, ErrUploadExpired after
// its expiry.
func (r *Resumable) Write(ctx context.Context, u *Upload, offset int64, body io.Reader, chunkSum []byte) (int64, error) {
	if offset != u.Received {
		return 0, ErrOffsetMoved
	}
	if r.Expired(*u) {
		return 0, ErrUploadExpired
	}
	if u.RequestID != nil {
		// A closed (or deleted, or expired) request stops its uploads in flight too.
		if r.requests == nil {
			return 0, ErrNotFound
		}
		if err := r.requests.CheckRequestOpen(ctx, *u.RequestID, r.svc.now()); err != nil {
			return 0, err
		}
	}
	whole := sha256.New()
	if err := whole.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
		return 0, fmt.Errorf("restore hash state: %w", err)
	}
	var h hash.Hash = whole
	var chunk hash.Hash
	if chunkSum != nil {
		chunk = sha256.New()
		h = multiHash{whole, chunk}
	}
	hr := NewHashingReader(body, h)
	n, state, err := r.blobs.Append(ctx, u.BlobKey(), u.StoreState, offset, hr)
	read := hr.Done()
	if err != nil {
		return 0, err
	}
	if read != n {
		return 0, fmt.Errorf("blob store wrote %d of %d bytes read", n, read)
	}
	if chunk != nil && subtle.ConstantTimeCompare(chunk.Sum(nil), chunkSum) != 1 {
		return 0, ErrChecksumMismatch
	}
	if n == 0 {
		return 0, nil
	}
	hashState, err := whole.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return 0, err
	}
	// Record the bytes even when the client has gone: they are durable, and it will resume.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.uploads.AdvanceUpload(rctx, u.ID, offset, offset+n, hashState, state); err != nil {
		return 0, err
	}
	u.Received, u.HashState, u.StoreState = offset+n, hashState, state
	return n, nil
}

// Complete turns u, all of whose bytes are durable, into its file: the partial blob becomes
// the file's blob, the digest comes from the saved state (no byte is read again) and is checked
// against the client's whole-file digests (the one given at creation and wantSHA256, either may
// be nil), and then the file row appears (Service's commit), in one transaction with the
// upload's completion and the release of its quota hold. On a digest mismatch nothing is kept
// (ErrDigestMismatch). Completing a completed upload does nothing. u is updated.
func (r *Resumable) Complete(ctx context.Context, u *Upload, wantSHA256 []byte) (File, error) {
	if u.CompletedAt != nil {
		return File{}, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	whole := sha256.New()
	if err := whole.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
		return File{}, fmt.Errorf("restore hash state: %w", err)
	}
	sum := whole.Sum(nil)
	for _, want := range [][]byte{u.WantSHA256, wantSHA256} {
		if want != nil && subtle.ConstantTimeCompare(want, sum) != 1 {
			// Like a direct upload with a wrong digest: nothing is kept.
			if err := r.Cancel(ctx, *u); err != nil {
				r.svc.logger.Warn("remove upload after digest mismatch; it will expire", "id", u.ID, "err", err)
			}
			return File{}, ErrDigestMismatch
		}
	}
	var err error
	if u.Size == 0 {
		_, err = r.blobs.Put(ctx, u.BlobKey(), bytes.NewReader(nil))
	} else {
		err = r.blobs.CompleteAppend(ctx, u.BlobKey(), u.StoreState, u.Size)
	}
	if err != nil {
		return File{}, err
	}
	crashPoint("tus-after-blob") // fault suite: the blob is complete, the row is not
	f := File{
		ID: u.ID, OwnerID: u.OwnerID, Name: u.Name, Size: u.Size, SHA256: sum,
		ContentType: u.ContentType, BlobKey: u.BlobKey(),
		ExpiresAt: u.FileExpiresAt, RequestID: u.RequestID, UploaderName: u.UploaderName,
	}
	if f, err = r.svc.commit(ctx, f, r.uploads.CompleteUpload); err != nil {
		return File{}, err
	}
	u.CompletedAt = &f.CreatedAt
	return f, nil
}

// Cancel removes an upload: an unfinished one's bytes go first, then its row and quota hold
// (so a failure leaves a row for the collector, never lost bytes). A finished upload only
// loses its row; the file stays.
func (r *Resumable) Cancel(ctx context.Context, u Upload) error {
	if u.CompletedAt == nil {
		if err := r.blobs.AbortAppend(ctx, u.BlobKey(), u.StoreState); err != nil {
			return err
		}
	}
	if _, err := r.uploads.DeleteUpload(ctx, u.OwnerID, u.ID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	r.releaseRequest(ctx, u)
	return nil
}

// releaseRequest gives back the file request reservation of an upload that ended without
// a file (cancelled or expired).
func (r *Resumable) releaseRequest(ctx context.Context, u Upload) {
	if u.RequestID == nil || u.CompletedAt != nil || r.requests == nil {
		return
	}
	if err := r.requests.ReleaseRequestUpload(context.WithoutCancel(ctx), *u.RequestID, u.Size); err != nil {
		r.svc.logger.Warn("release a file request's reservation", "request", *u.RequestID, "err", err)
	}
}

// Lock takes upload id's lock, shared by every file node, until ctx ends; onRelease runs when
// another request asks for it. unlock releases it.
func (r *Resumable) Lock(ctx context.Context, id uuid.UUID, onRelease func()) (unlock func(), err error) {
	return r.locks.LockUpload(ctx, id, onRelease)
}

// ExpireUploads removes uploads that expired before now: an unfinished one's bytes, then its
// row and quota hold; a finished one's row. An upload whose lock a request still holds is
// asked to let go and left for the next run if it does not in time. It returns how many it
// removed.
func (r *Resumable) ExpireUploads(ctx context.Context, now time.Time) (int, error) {
	removed := 0
	for {
		list, err := r.uploads.ExpiredUploads(ctx, now, 100)
		if err != nil || len(list) == 0 {
			return removed, err
		}
		progress := false
		for _, u := range list {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			unlock, err := r.locks.LockUpload(lctx, u.ID, func() {})
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return removed, ctx.Err()
				}
				continue
			}
			err = r.expire(ctx, u)
			unlock()
			if err != nil {
				return removed, err
			}
			removed++
			progress = true
		}
		if !progress {
			return removed, nil
		}
	}
}

func (r *Resumable) expire(ctx context.Context, u Upload) error {
	if u.CompletedAt == nil {
		if err := r.blobs.AbortAppend(ctx, u.BlobKey(), u.StoreState); err != nil {
			return fmt.Errorf("files: remove expired upload's bytes: %w", err)
		}
	}
	if err := r.uploads.ForgetUpload(ctx, u.ID); err != nil {
		return fmt.Errorf("files: remove expired upload: %w", err)
	}
	r.releaseRequest(ctx, u)
	return nil
}

// multiHash writes to both the whole-file and the per-request digest; Sum is the first's.
type multiHash struct{ a, b hash.Hash }

func (m multiHash) Write(p []byte) (int, error) { m.a.Write(p); m.b.Write(p); return len(p), nil }
func (m multiHash) Sum(b []byte) []byte         { return m.a.Sum(b) }
func (m multiHash) Reset()                      { m.a.Reset(); m.b.Reset() }
func (m multiHash) Size() int                   { return m.a.Size() }
func (m multiHash) BlockSize() int              { return m.a.BlockSize() }
