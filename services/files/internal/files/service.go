package files

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Config holds the Service's limits. DefaultConfig holds their defaults.
type Config struct {
	// MaxFileSize is the largest upload in bytes.
	MaxFileSize int64
	// DefaultRetention, when positive, is how long a new file is kept unless its upload
	// asks otherwise (ExpiresIn). Default 0: kept until deleted.
	DefaultRetention time.Duration
	// UploadExpiry is how long after its creation an unfinished resumable upload is kept.
	UploadExpiry time.Duration
	// Scan makes every new file pending_scan: not served until the virus scanner passes it.
	Scan bool
	// BlobGrace is how long a deleted file's blob is kept before the collector removes it,
	// so that a database restored to a point up to BlobGrace ago still finds its bytes.
	// 0 deletes the blob with its row.
	BlobGrace time.Duration
}

// DefaultConfig is the Service's limits unless configured otherwise, and the one place their
// defaults are written: cmd/coffer-files reads its environment over it.
func DefaultConfig() Config {
	// BlobGrace: a week of deleted bytes, longer than a daily or weekly backup interval, so
	// a restore to any point of the last seven days (PITR from the newest weekly base
	// backup) is whole.
	return Config{MaxFileSize: 5 << 30, UploadExpiry: 24 * time.Hour, BlobGrace: 7 * 24 * time.Hour}
}

// Service implements the file operations on top of a MetadataStore and a BlobStore.
type Service struct {
	meta   MetadataStore
	blobs  BlobStore
	cfg    Config
	now    func() time.Time
	logger *slog.Logger
	hook   PreCreateHook // nil: every upload may start (hook.go)
}

// NewService wires a Service.
func NewService(meta MetadataStore, blobs BlobStore, cfg Config, now func() time.Time, logger *slog.Logger) *Service {
	if cfg.MaxFileSize <= 0 { // no limit means nothing (the configuration refuses it)
		cfg.MaxFileSize = DefaultConfig().MaxFileSize
	}
	if cfg.UploadExpiry <= 0 {
		cfg.UploadExpiry = DefaultConfig().UploadExpiry
	}
	if now == nil {
		now = time.Now
	}
	return &Service{meta: meta, blobs: blobs, cfg: cfg, now: now, logger: logger}
}

// MaxFileSize is the configured upload limit.
func (s *Service) MaxFileSize() int64 { return s.cfg.MaxFileSize }

// UploadRequest describes one upload.
type UploadRequest struct {
	OwnerID     string
	Name        string
	ContentType string
	Body        io.Reader
	// WantSHA256, when set, is the client's digest of the body; a mismatch rejects the upload.
	WantSHA256 []byte
	// SizeHint, when positive, is the size the client declared (Content-Length); the quota
	// is checked against it before any byte is read.
	SizeHint int64
	// ExpiresIn, when positive, is how long the file is kept (see Retention); 0 takes
	// Config.DefaultRetention.
	ExpiresIn time.Duration
	// ID, when set, is the new file's id (never taken from a client). Quota sets it to its
	// reservation's id, which the metadata store drops when it commits the row.
	ID uuid.UUID
	// IdempotencyKey, when set, is recorded with the file; a second upload of the owner with
	// the same key fails with ErrKeyUsed and stores nothing (idempotency.go).
	IdempotencyKey string
}

// MaxNameBytes bounds a file name.
const MaxNameBytes = 1024

// ValidateName checks a client file name. Names are metadata only and never touch a path, but
// they must be printable UTF-8 of bounded size to be safe to echo in headers and listings, and
// a name with folders ("a/b.txt") must be a clean relative path (validatePath).
func ValidateName(name string) error {
	switch {
	case name == "":
		return Invalid("a file name is required")
	case len(name) > MaxNameBytes:
		return Invalid("file name longer than %d bytes", MaxNameBytes)
	case !utf8.ValidString(name):
		return Invalid("file name is not valid UTF-8")
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return Invalid("file name contains control characters")
	}
	return validatePath(name)
}

// Upload streams the body into the blob store, hashing it on the way, then commits the
// metadata row. The file is visible only after both succeed; on any failure the blob is
// removed, and a crash between the two leaves only an orphan blob for the collector.
func (s *Service) Upload(ctx context.Context, req UploadRequest) (File, error) {
	size := req.SizeHint
	if size <= 0 {
		size = -1
	}
	f, err := s.begin(ctx, PreCreate{OwnerID: req.OwnerID, Name: req.Name, ContentType: req.ContentType, Size: size, Upload: "direct"}, req.ID)
	if err != nil {
		return File{}, err
	}
	f.IdempotencyKey = req.IdempotencyKey
	hr := newParallelHash(&limitReader{r: req.Body, left: s.cfg.MaxFileSize}, sha256.New())
	var n int64
	if sp, ok := s.blobs.(SizedPutter); ok && req.SizeHint > 0 {
		n, err = sp.PutSized(ctx, f.BlobKey, hr, req.SizeHint)
	} else {
		n, err = s.blobs.Put(ctx, f.BlobKey, hr)
	}
	sum := hr.Sum()
	if err != nil {
		return File{}, err
	}
	f.Size, f.SHA256 = n, sum
	if req.WantSHA256 != nil && subtle.ConstantTimeCompare(req.WantSHA256, sum) != 1 {
		s.removeBlob(ctx, f.BlobKey)
		return File{}, ErrDigestMismatch
	}
	crashPoint("after-blob") // fault suite: the blob is durable, the row is not
	if req.ExpiresIn > 0 {
		f.ExpiresAt = s.Expiry(s.now().UTC(), req.ExpiresIn)
	}
	if f, err = s.commit(ctx, f, s.meta.CreateFile); err != nil {
		s.removeBlob(ctx, f.BlobKey)
		return File{}, err
	}
	crashPoint("after-commit") // fault suite: the row and its event are committed, nobody was told
	return f, nil
}

// Expiry is when a file created at created is deleted, for an upload that asked to keep it
// for expiresIn (0: the default retention); nil: never.
func (s *Service) Expiry(created time.Time, expiresIn time.Duration) *time.Time {
	if expiresIn <= 0 {
		expiresIn = s.cfg.DefaultRetention
	}
	if expiresIn <= 0 {
		return nil
	}
	t := created.Add(min(expiresIn, MaxRetention))
	return &t
}

// ParseExpiresIn reads an upload's expires_in (whole seconds, at most MaxRetention).
func ParseExpiresIn(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 || n > int64(MaxRetention/time.Second) {
		return 0, Invalid("expires_in must be whole seconds between 1 and %d", int64(MaxRetention/time.Second))
	}
	return time.Duration(n) * time.Second, nil
}

// begin is where every upload starts, direct (Upload) or resumable (Resumable.Create): it
// checks what the client said of the new file and gives the file its id and blob key. A rule
// that must hold before an upload is accepted, whichever way it arrives, goes here.
func (s *Service) begin(ctx context.Context, u PreCreate, id uuid.UUID) (File, error) {
	ownerID, name, contentType := u.OwnerID, u.Name, u.ContentType
	if err := ValidateName(name); err != nil {
		return File{}, err
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	if s.hook != nil {
		// Before any byte is stored: a refused upload leaves nothing anywhere.
		u.ContentType = contentType
		if err := s.hook.Check(ctx, u); err != nil {
			return File{}, err
		}
	}
	if id == uuid.Nil {
		id = uuid.New()
	}
	return File{ID: id, OwnerID: ownerID, Name: name, ContentType: contentType, BlobKey: NewBlobKey(id)}, nil
}

// commit is where every upload ends, direct or resumable: f's bytes are durable, and store
// makes its row visible in one transaction (MetadataStore.CreateFile for a direct upload,
// UploadStore.CompleteUpload for a resumable one). A rule that must hold when a file appears,
// whichever way it arrived, goes here. It returns f as committed.
func (s *Service) commit(ctx context.Context, f File, store func(context.Context, File) error) (File, error) {
	f.CreatedAt = s.now().UTC().Truncate(time.Microsecond)
	if f.ExpiresAt == nil {
		f.ExpiresAt = s.Expiry(f.CreatedAt, 0) // the default retention, if any
	}
	f.Status = StatusAvailable
	if s.cfg.Scan {
		f.Status = StatusPendingScan // the store enqueues its scan with the row
	}
	if err := store(ctx, f); err != nil {
		return f, err
	}
	return f, nil
}

// NewBlobKey is the key of a new file's blob: its id, so a blob can be traced to its row.
func NewBlobKey(id uuid.UUID) string { return id.String() }

// IsBlobKey reports whether key has the form NewBlobKey gives. The garbage collector touches
// nothing else, so objects that share a bucket or folder with the blobs are never collected.
func IsBlobKey(key string) bool {
	id, err := uuid.Parse(key)
	return err == nil && id.String() == key
}

// removeBlob deletes a blob that will never be referenced. It runs even when the request's
// context is done (the client went away), since that is exactly when it is needed.
func (s *Service) removeBlob(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.blobs.Delete(ctx, key); err != nil {
		s.logger.Warn("remove unreferenced blob; the collector will retry", "key", key, "err", err)
	}
}

// Get returns a file's metadata.
func (s *Service) Get(ctx context.Context, ownerID string, id uuid.UUID) (File, error) {
	return s.meta.FileByID(ctx, ownerID, id)
}

// Open returns a file's metadata and its bytes. A file deleted between the two reads is
// ErrNotFound, never a torn body.
func (s *Service) Open(ctx context.Context, ownerID string, id uuid.UUID) (File, Blob, error) {
	f, err := s.meta.FileByID(ctx, ownerID, id)
	if err != nil {
		return File{}, nil, err
	}
	b, err := OpenBlob(ctx, s.blobs, f)
	if err != nil {
		return File{}, nil, err
	}
	return f, b, nil
}

// MissingKeyPrefix starts the blob_key of a file whose bytes fsck found gone or damaged. No
// blob has such a key (IsBlobKey is false), so no node can serve wrong bytes for the file.
const MissingKeyPrefix = "missing/"

// OpenBlob opens a file's bytes, or answers ErrContentMissing for a file marked missing.
// Every path that serves a file's bytes goes through it.
func OpenBlob(ctx context.Context, blobs BlobStore, f File) (Blob, error) {
	if err := Servable(f); err != nil { // from the row already read: no extra query
		return nil, err
	}
	if strings.HasPrefix(f.BlobKey, MissingKeyPrefix) {
		return nil, ErrContentMissing
	}
	return blobs.Open(ctx, f.BlobKey)
}

// List returns a page of the owner's files.
func (s *Service) List(ctx context.Context, ownerID string, opts ListOptions) (Page, error) {
	opts, err := opts.normalize()
	if err != nil {
		return Page{}, err
	}
	return s.meta.ListFiles(ctx, ownerID, opts)
}

// Delete removes the row (the file disappears at once). The blob follows at once when there
// is no BlobGrace; otherwise the collector removes it once the grace has passed (the
// database records the deletion time).
func (s *Service) Delete(ctx context.Context, ownerID string, id uuid.UUID) error {
	f, err := s.meta.DeleteFile(ctx, ownerID, id)
	if err != nil {
		return err
	}
	if s.cfg.BlobGrace <= 0 {
		s.removeBlob(ctx, f.BlobKey)
	}
	return nil
}

// limitReader fails with ErrTooLarge as soon as more than left bytes arrive, so an oversized
// stream is cut off at the limit whatever Content-Length claimed.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, ErrTooLarge
	}
	return n, err
}

// IsUnavailable reports whether err means a dependency is down rather than a bad request.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
