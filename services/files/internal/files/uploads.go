package files

import (
	"context"
	"errors"
	"hash"
	"io"
	"time"

	"github.com/google/uuid"
)

// Errors of resumable uploads.
var (
	// ErrOffsetMoved means a resumable upload's offset is no longer the one a write started
	// from: another request advanced it first. Nothing of the losing write is kept.
	ErrOffsetMoved = errors.New("upload offset moved")
	// ErrUploadExpired means an unfinished upload outlived its expiry; it only awaits the
	// collector.
	ErrUploadExpired = errors.New("upload expired")
	// ErrChecksumMismatch means one request's body does not match the checksum sent with it.
	// The body is dropped and the upload's offset is unchanged.
	ErrChecksumMismatch = errors.New("checksum mismatch")
)

// Upload is a resumable upload: its bytes arrive over any number of requests, through any file
// node, and become the file with the same ID when the last one is durable.
type Upload struct {
	ID          uuid.UUID
	OwnerID     string
	Name        string
	ContentType string
	Size        int64 // declared at creation
	Received    int64 // bytes durable in the blob store and counted in HashState
	// HashState is the SHA-256 digest's state after Received bytes (encoding.BinaryMarshaler),
	// so the hash is carried from request to request and completion never re-reads the bytes.
	HashState []byte
	// StoreState is the Appender's opaque state for this upload (such as an S3 multipart
	// upload and its parts); nil before the first write.
	StoreState []byte
	// WantSHA256 is the client's digest of the whole file, checked at completion; nil if none.
	WantSHA256 []byte
	CreatedAt  time.Time
	ExpiresAt  time.Time
	// CompletedAt is set once the file exists; the row then only answers offset queries.
	CompletedAt *time.Time
	// RequestID and UploaderName mark an upload through a file request (and then its file).
	RequestID    *uuid.UUID
	UploaderName string
	// FileExpiresAt is the expiry its upload asked for the file; nil: the default retention.
	FileExpiresAt *time.Time
	// IdempotencyKey is the creation's Idempotency-Key ("" if none): a retried creation with
	// the same key finds this upload (UploadByIdempotencyKey).
	IdempotencyKey string
}

// BlobKey is where the upload's bytes end up: the blob of the file it becomes.
func (u Upload) BlobKey() string { return NewBlobKey(u.ID) }

// UploadStore keeps the state of resumable uploads.
type UploadStore interface {
	// CreateUpload stores a new upload; ErrKeyUsed if its owner has an upload with the same
	// IdempotencyKey.
	CreateUpload(ctx context.Context, u Upload) error
	// UploadByIdempotencyKey returns ownerID's upload created with key (completed or not);
	// ErrNotFound if there is none.
	UploadByIdempotencyKey(ctx context.Context, ownerID, key string) (Upload, error)
	// UploadByID returns ownerID's upload; ErrNotFound if there is none (another user's too).
	UploadByID(ctx context.Context, ownerID string, id uuid.UUID) (Upload, error)
	// AdvanceUpload records that the upload now holds to bytes with hashState and storeState,
	// if it still held from; ErrOffsetMoved otherwise, ErrNotFound if it is gone.
	AdvanceUpload(ctx context.Context, id uuid.UUID, from, to int64, hashState, storeState []byte) error
	// CompleteUpload commits f (whose ID is the upload's), marks the upload completed and
	// releases its quota reservation, all at once; ErrNotFound if the upload is gone.
	CompleteUpload(ctx context.Context, f File) error
	// DeleteUpload removes the upload's row and quota reservation and returns the row;
	// ErrNotFound if ownerID has no such upload.
	DeleteUpload(ctx context.Context, ownerID string, id uuid.UUID) (Upload, error)
	// ExpiredUploads returns up to limit uploads that expired before before, completed or not.
	ExpiredUploads(ctx context.Context, before time.Time, limit int) ([]Upload, error)
	// ForgetUpload removes an expired upload's row and quota reservation, whoever owns it.
	ForgetUpload(ctx context.Context, id uuid.UUID) error
}

// Appender is a BlobStore that can build a blob over several writes, each durable when it
// returns, so an interrupted upload resumes where it stopped.
type Appender interface {
	// Append writes r to the partial blob under key, starting at offset, which is where the
	// previous successful Append (whose state is given; nil for the first) ended. Anything
	// stored past offset by a write that was never recorded is discarded. It returns the bytes
	// written and the new state; when err is nil those bytes are durable and every byte read
	// from r was written. The caller records state and offset only after a nil error.
	Append(ctx context.Context, key string, state []byte, offset int64, r io.Reader) (n int64, newState []byte, err error)
	// CompleteAppend turns the partial blob of size bytes into the blob key, durable when it
	// returns. Completing a blob that is already complete is not an error.
	CompleteAppend(ctx context.Context, key string, state []byte, size int64) error
	// AbortAppend removes the partial blob (and the blob, if it was completed); removing a
	// missing one is not an error.
	AbortAppend(ctx context.Context, key string, state []byte) error
}

// HashingReader hashes what passes through it on another goroutine, as direct uploads do, so
// SHA-256 runs alongside the write. Read p only between two calls (as io.Copy does).
type HashingReader struct {
	p *parallelHash
	n int64
}

// NewHashingReader hashes everything read from r into h.
func NewHashingReader(r io.Reader, h hash.Hash) *HashingReader {
	return &HashingReader{p: newParallelHash(r, h)}
}

func (r *HashingReader) Read(p []byte) (int, error) {
	n, err := r.p.Read(p)
	r.n += int64(n)
	return n, err
}

// Done waits until every byte read is in the hash, stops the hasher, and returns how many
// bytes were read. The hash may be used once Done returns.
func (r *HashingReader) Done() int64 {
	r.p.Sum()
	return r.n
}
