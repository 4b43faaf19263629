// Package tus serves resumable uploads (the tus 1.0.0 protocol) with tusd's handler as a
// library: tusd parses the protocol; this package is the tusd DataStore and Locker behind it,
// so an upload has the guarantees of a direct one. Its state lives in PostgreSQL (offset,
// SHA-256 state, blob store state), its bytes in the file service's blob store (disk or S3),
// and its lock in PostgreSQL, so any file node continues an upload begun on another.
//
// What tusd lacks and this package adds: per-PATCH checksums (Upload-Checksum sha256, 460 on a
// mismatch, offset unchanged), expiration (Upload-Expires; the collector removes expired
// uploads), a whole-file SHA-256 computed as the bytes arrive and carried across requests,
// owner-only access, quota reservations, and problem+json errors.
package tus

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
	"log/slog"
	"mime"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Blobs is what an upload needs of the blob store.
type Blobs interface {
	files.BlobStore
	files.Appender
}

// Locks is the lock every file node shares (postgres.DB.LockUpload).
type Locks interface {
	// LockUpload takes upload id's lock, asking its holder to let go (its onRelease runs),
	// until ctx ends. unlock releases it.
	LockUpload(ctx context.Context, id uuid.UUID, onRelease func()) (unlock func(), err error)
}

// Config holds the settings of resumable uploads.
type Config struct {
	// MaxSize is the largest upload in bytes (the service's file size limit). Required.
	MaxSize int64
	// Expiry is how long after its creation an unfinished upload is kept. Default 24h.
	Expiry time.Duration
	// Quota is each user's storage quota in bytes; 0 means unlimited.
	Quota int64
	// BasePath is the URL path (or absolute URL) of the upload collection. Default "/v1/uploads/".
	BasePath string
	// IdleTimeout is how long a PATCH body may send nothing before it is cut off. Default 1m.
	IdleTimeout time.Duration
}

// Store is the tusd DataStore, Terminater and Locker of Coffer's resumable uploads.
type Store struct {
	uploads files.UploadStore
	blobs   Blobs
	quota   files.QuotaStore
	locks   Locks
	cfg     Config
	now     func() time.Time
	logger  *slog.Logger
}

// NewStore wires a Store. quota may be nil when cfg.Quota is 0.
func NewStore(uploads files.UploadStore, blobs Blobs, quota files.QuotaStore, locks Locks, cfg Config, now func() time.Time, logger *slog.Logger) *Store {
	if cfg.Expiry == 0 {
		cfg.Expiry = 24 * time.Hour
	}
	if cfg.BasePath == "" {
		cfg.BasePath = "/v1/uploads/"
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &Store{uploads: uploads, blobs: blobs, quota: quota, locks: locks, cfg: cfg, now: now, logger: logger}
}

var (
	_ handler.DataStore           = (*Store)(nil)
	_ handler.TerminaterDataStore = (*Store)(nil)
	_ handler.Locker              = (*Store)(nil)
)

// request is what the HTTP layer learned about one request, carried to the store in its
// context (tusd keeps the request context's values).
type request struct {
	owner     string
	expiresAt time.Time // for a creation
	chunkSum  []byte    // Upload-Checksum: the SHA-256 of this request's body
	wholeSum  []byte    // Repr-Digest: the SHA-256 of the whole file
	fileID    string    // set when this request completed the upload
}

type requestKey struct{}

func requestFrom(ctx context.Context) *request {
	if r, ok := ctx.Value(requestKey{}).(*request); ok {
		return r
	}
	return &request{}
}

// NewUpload implements handler.DataStore: it validates the metadata like a direct upload's,
// reserves the quota for the whole declared length, and records the upload.
func (s *Store) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	req := requestFrom(ctx)
	if req.owner == "" {
		return nil, s.tusError(ctx, files.ErrNotFound)
	}
	if info.SizeIsDeferred || info.IsPartial || info.IsFinal {
		return nil, newError(400, "invalid_request", "Upload-Length is required")
	}
	name, contentType, err := metadata(info.MetaData)
	if err != nil {
		return nil, s.tusError(ctx, err)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	state, err := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, s.tusError(ctx, err)
	}
	u := files.Upload{
		ID: uuid.New(), OwnerID: req.owner, Name: name, ContentType: contentType, Size: info.Size,
		HashState: state, WantSHA256: req.wholeSum, CreatedAt: now, ExpiresAt: req.expiresAt,
	}
	if u.ExpiresAt.IsZero() {
		u.ExpiresAt = now.Add(s.cfg.Expiry)
	}
	if s.cfg.Quota > 0 && s.quota != nil {
		// The hold outlives the upload by a margin: the collector releases it at expiry.
		if _, err := s.quota.ReserveQuota(ctx, u.OwnerID, u.ID, u.Size, u.Size, s.cfg.Quota, u.ExpiresAt.Sub(now)+time.Hour); err != nil {
			return nil, s.tusError(ctx, err)
		}
	}
	if err := s.uploads.CreateUpload(ctx, u); err != nil {
		if s.quota != nil {
			_ = s.quota.ReleaseQuota(context.WithoutCancel(ctx), u.ID)
		}
		return nil, s.tusError(ctx, err)
	}
	return &upload{s: s, u: u}, nil
}

// metadata reads the file name and type from Upload-Metadata (filename and filetype, or Uppy's
// name and type) and validates them as a direct upload's.
func metadata(m handler.MetaData) (name, contentType string, err error) {
	name, contentType = m["filename"], m["filetype"]
	if name == "" {
		name = m["name"]
	}
	if contentType == "" {
		contentType = m["type"]
	}
	if err := files.ValidateName(name); err != nil {
		return "", "", fmt.Errorf("%w (Upload-Metadata filename)", err)
	}
	if contentType == "" {
		return name, "application/octet-stream", nil
	}
	ct, err := parseMediaType(contentType)
	if err != nil {
		return "", "", fmt.Errorf("%w: Upload-Metadata filetype is not a media type", files.ErrInvalidInput)
	}
	return name, ct, nil
}

// GetUpload implements handler.DataStore. Only the caller's own uploads exist for it. An upload
// whose bytes are all durable but whose completion was cut short (a crash, a lost database) is
// completed here, under the upload's lock, so a client that resumes finds its file.
func (s *Store) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	uid, err := uuid.Parse(id)
	if err != nil || uid.String() != id {
		return nil, handler.ErrNotFound
	}
	u, err := s.uploads.UploadByID(ctx, requestFrom(ctx).owner, uid)
	if err != nil {
		return nil, s.tusError(ctx, err)
	}
	up := &upload{s: s, u: u}
	if u.CompletedAt == nil && u.Received == u.Size && u.Size > 0 {
		if err := up.FinishUpload(ctx); err != nil {
			return nil, err
		}
	}
	return up, nil
}

// AsTerminatableUpload implements handler.TerminaterDataStore.
func (s *Store) AsTerminatableUpload(u handler.Upload) handler.TerminatableUpload {
	return u.(*upload)
}

// upload is one upload, as read at the start of a request (under its lock).
type upload struct {
	s *Store
	u files.Upload
}

// GetInfo implements handler.Upload.
func (up *upload) GetInfo(context.Context) (handler.FileInfo, error) {
	return handler.FileInfo{
		ID:       up.u.ID.String(),
		Size:     up.u.Size,
		Offset:   up.u.Received,
		MetaData: handler.MetaData{"filename": up.u.Name, "filetype": up.u.ContentType},
	}, nil
}

// WriteChunk implements handler.Upload: it appends the body to the partial blob, hashing it on
// the way into the digest state saved after the previous request, then records the new offset
// and state together. A body whose Upload-Checksum does not match is dropped: 460, offset
// unchanged. A body cut short is kept as far as it arrived (without a checksum to check).
func (up *upload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	s, u := up.s, up.u
	if offset != u.Received {
		return 0, handler.ErrMismatchOffset
	}
	if s.now().After(u.ExpiresAt) {
		return 0, errExpired
	}
	whole := sha256.New()
	if err := whole.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
		return 0, s.tusError(ctx, fmt.Errorf("restore hash state: %w", err))
	}
	req := requestFrom(ctx)
	var h hash.Hash = whole
	var chunk hash.Hash
	if req.chunkSum != nil {
		chunk = sha256.New()
		h = multiHash{whole, chunk}
	}
	hr := files.NewHashingReader(src, h)
	n, state, err := s.blobs.Append(ctx, u.BlobKey(), u.StoreState, offset, hr)
	read := hr.Done()
	if err != nil {
		return 0, s.tusError(ctx, err)
	}
	if read != n {
		return 0, s.tusError(ctx, fmt.Errorf("blob store wrote %d of %d bytes read", n, read))
	}
	if chunk != nil && subtle.ConstantTimeCompare(chunk.Sum(nil), req.chunkSum) != 1 {
		return 0, errChecksumMismatch
	}
	if n == 0 {
		return 0, nil
	}
	hashState, err := whole.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return 0, s.tusError(ctx, err)
	}
	// Record the bytes even when the client has gone: they are durable, and it will resume.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.uploads.AdvanceUpload(rctx, u.ID, offset, offset+n, hashState, state); err != nil {
		return 0, s.tusError(ctx, err)
	}
	up.u.Received, up.u.HashState, up.u.StoreState = offset+n, hashState, state
	return n, nil
}

// GetReader implements handler.Upload. Downloads go through /v1/files once complete.
func (up *upload) GetReader(context.Context) (io.ReadCloser, error) {
	return nil, handler.ErrNotImplemented
}

// FinishUpload implements handler.Upload: the partial blob becomes the file's blob (durable),
// the digest comes from the saved state (no byte is read again) and is checked against the
// client's whole-file digest, and then the file row appears, in one transaction with the
// upload's completion and the release of its reservation.
func (up *upload) FinishUpload(ctx context.Context) error {
	s, u := up.s, up.u
	if u.CompletedAt != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	whole := sha256.New()
	if err := whole.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
		return s.tusError(ctx, fmt.Errorf("restore hash state: %w", err))
	}
	sum := whole.Sum(nil)
	for _, want := range [][]byte{u.WantSHA256, requestFrom(ctx).wholeSum} {
		if want != nil && subtle.ConstantTimeCompare(want, sum) != 1 {
			// Like a direct upload with a wrong digest: nothing is kept.
			if err := up.Terminate(ctx); err != nil {
				s.logger.Warn("remove upload after digest mismatch; it will expire", "id", u.ID, "err", err)
			}
			return s.tusError(ctx, files.ErrDigestMismatch)
		}
	}
	var err error
	if u.Size == 0 {
		_, err = s.blobs.Put(ctx, u.BlobKey(), bytes.NewReader(nil))
	} else {
		err = s.blobs.CompleteAppend(ctx, u.BlobKey(), u.StoreState, u.Size)
	}
	if err != nil {
		return s.tusError(ctx, err)
	}
	files.CrashPoint("tus-after-blob") // fault suite: the blob is complete, the row is not
	now := s.now().UTC().Truncate(time.Microsecond)
	f := files.File{
		ID: u.ID, OwnerID: u.OwnerID, Name: u.Name, Size: u.Size, SHA256: sum,
		ContentType: u.ContentType, BlobKey: u.BlobKey(), CreatedAt: now,
	}
	if err := s.uploads.CompleteUpload(ctx, f); err != nil {
		return s.tusError(ctx, err)
	}
	up.u.CompletedAt = &now
	requestFrom(ctx).fileID = u.ID.String()
	return nil
}

// Terminate implements handler.TerminatableUpload: an unfinished upload's bytes go first, then
// its row and reservation (so a failure leaves a row for the collector, never lost bytes). A
// finished upload only loses its row; the file stays.
func (up *upload) Terminate(ctx context.Context) error {
	s, u := up.s, up.u
	if u.CompletedAt == nil {
		if err := s.blobs.AbortAppend(ctx, u.BlobKey(), u.StoreState); err != nil {
			return s.tusError(ctx, err)
		}
	}
	if _, err := s.uploads.DeleteUpload(ctx, u.OwnerID, u.ID); err != nil && !errors.Is(err, files.ErrNotFound) {
		return s.tusError(ctx, err)
	}
	return nil
}

// NewLock implements handler.Locker with the lock all nodes share.
func (s *Store) NewLock(id string) (handler.Lock, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return nil, handler.ErrNotFound
	}
	return &lock{s: s, id: uid}, nil
}

type lock struct {
	s      *Store
	id     uuid.UUID
	unlock func()
}

// Lock implements handler.Lock. tusd passes requestRelease, which interrupts this node's
// request holding the lock when another request (on any node) wants it.
func (l *lock) Lock(ctx context.Context, requestRelease func()) error {
	unlock, err := l.s.locks.LockUpload(ctx, l.id, requestRelease)
	if err != nil {
		if ctx.Err() != nil {
			return handler.ErrLockTimeout
		}
		return l.s.tusError(ctx, err)
	}
	l.unlock = unlock
	return nil
}

// Unlock implements handler.Lock.
func (l *lock) Unlock() error {
	if l.unlock != nil {
		l.unlock()
		l.unlock = nil
	}
	return nil
}

// ExpireUploads removes uploads that expired before now: an unfinished one's bytes, then its
// row and reservation; a finished one's row. An upload whose lock a request still holds is
// asked to let go and left for the next run if it does not in time. It returns how many it
// removed.
func (s *Store) ExpireUploads(ctx context.Context, now time.Time) (int, error) {
	removed := 0
	for {
		list, err := s.uploads.ExpiredUploads(ctx, now, 100)
		if err != nil || len(list) == 0 {
			return removed, err
		}
		progress := false
		for _, u := range list {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			unlock, err := s.locks.LockUpload(lctx, u.ID, func() {})
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return removed, ctx.Err()
				}
				continue
			}
			err = s.expire(ctx, u)
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

func (s *Store) expire(ctx context.Context, u files.Upload) error {
	if u.CompletedAt == nil {
		if err := s.blobs.AbortAppend(ctx, u.BlobKey(), u.StoreState); err != nil {
			return fmt.Errorf("tus: remove expired upload's bytes: %w", err)
		}
	}
	if err := s.uploads.ForgetUpload(ctx, u.ID); err != nil {
		return fmt.Errorf("tus: remove expired upload: %w", err)
	}
	return nil
}

// Expiry is how long an unfinished upload lives.
func (s *Store) Expiry() time.Duration { return s.cfg.Expiry }

// multiHash writes to both the whole-file and the per-request digest; Sum is the first's.
type multiHash struct{ a, b hash.Hash }

func (m multiHash) Write(p []byte) (int, error) { m.a.Write(p); m.b.Write(p); return len(p), nil }
func (m multiHash) Sum(b []byte) []byte         { return m.a.Sum(b) }
func (m multiHash) Reset()                      { m.a.Reset(); m.b.Reset() }
func (m multiHash) Size() int                   { return m.a.Size() }
func (m multiHash) BlockSize() int              { return m.a.BlockSize() }

func parseMediaType(v string) (string, error) {
	ct, _, err := mime.ParseMediaType(v)
	if err != nil || strings.ContainsAny(ct, "\r\n") {
		return "", errors.New("bad media type")
	}
	return ct, nil
}
