// Package files is the file service's domain: file metadata, the storage interfaces it needs,
// the errors its operations return, and the Service that ties blob bytes to metadata rows so
// that a file is visible only once both are durable.
package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
)

// Domain errors. The HTTP layer maps each to one problem code.
var (
	// ErrNotFound means no file with that id is visible to the caller. Another user's file
	// returns ErrNotFound too, so ids cannot be probed.
	ErrNotFound = errors.New("not found")
	// ErrTooLarge means the upload exceeds the configured maximum size.
	ErrTooLarge = errors.New("file too large")
	// ErrQuotaExceeded means the upload would take the owner over their storage quota.
	ErrQuotaExceeded = errors.New("storage quota exceeded")
	// ErrDigestMismatch means the client's digest does not match the bytes received.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrInvalidInput means a request parameter failed validation; an *InputError says which.
	ErrInvalidInput = errors.New("invalid input")
	// ErrStorageFull means the blob store is out of space.
	ErrStorageFull = errors.New("storage full")
	// ErrUnavailable means a dependency (database, object store) is unreachable; retry later.
	ErrUnavailable = errors.New("temporarily unavailable")
	// ErrScanPending means the file's bytes have not been passed by the virus scanner yet:
	// they are not served until they are.
	ErrScanPending = errors.New("file awaits its virus scan")
	// ErrRejected means the virus scanner rejected the file: its bytes are gone.
	ErrRejected = errors.New("file rejected by the virus scanner")
	// ErrUserNotFound means no enabled user has the username a share names.
	ErrUserNotFound = errors.New("user not found")
	// ErrContentMissing means the file's row exists but its bytes were lost or damaged in
	// the blob store (fsck marked it): it can be deleted, or its bytes restored from a backup.
	ErrContentMissing = errors.New("file content missing")
)

// InputError is a request parameter that failed validation. Reason is written for the client
// and is all of the error the client sees. It matches ErrInvalidInput.
type InputError struct{ Reason string }

// PolicyError is an upload the pre-create hook refused. Message is the hook's own, for the
// client.
type PolicyError struct{ Message string }

func (e *PolicyError) Error() string { return "refused by policy: " + e.Message }

// Invalid returns an *InputError whose Reason is format filled in with args.
func Invalid(format string, args ...any) error {
	return &InputError{Reason: fmt.Sprintf(format, args...)}
}

func (e *InputError) Error() string { return "invalid input: " + e.Reason }

// Is makes errors.Is(err, ErrInvalidInput) true.
func (e *InputError) Is(target error) bool { return target == ErrInvalidInput }

// File is one stored file's metadata.
type File struct {
	ID          uuid.UUID
	OwnerID     string // the access token's sub
	Name        string // as the client named it; metadata only, never part of a path
	Size        int64
	SHA256      []byte
	ContentType string
	BlobKey     string // where the bytes are in the BlobStore
	CreatedAt   time.Time
	// ExpiresAt, when set, is when retention deletes the file (see Retention).
	ExpiresAt *time.Time
	// RequestID and UploaderName mark a file that arrived through a file request.
	RequestID    *uuid.UUID
	UploaderName string
	// Status is StatusAvailable, StatusPendingScan (not served until the scanner passes it)
	// or StatusRejected (its bytes are gone; StatusReason says why).
	Status       string
	StatusReason string
	// SharerName, on a file listed by ShareStore.ListShared, is its owner's username when
	// they shared it (Share.SharerName; "" if unknown).
	SharerName string
	// IdempotencyKey, on a file being stored, is its upload's Idempotency-Key: the store
	// records it with the row (or fails with ErrKeyUsed). Not read back.
	IdempotencyKey string
}

// Page is one page of a listing.
type Page struct {
	Files      []File
	NextCursor string // empty on the last page
}

// ListOptions selects a page of a user's files, newest first.
type ListOptions struct {
	Limit  int
	Cursor string // opaque, from a previous Page
	Prefix string // name prefix filter
	Sort   Sort   // the zero Sort: newest first
}

// MetadataStore keeps file metadata.
type MetadataStore interface {
	// CreateFile stores f; it becomes visible when this returns. In the same transaction it
	// drops the quota reservation whose id is f.ID, if any (see Quota), so the file's bytes
	// are never counted both as stored and as held.
	CreateFile(ctx context.Context, f File) error
	// FileByID returns the file if ownerID owns it or it is shared with ownerID (see
	// ShareStore); ErrNotFound otherwise.
	FileByID(ctx context.Context, ownerID string, id uuid.UUID) (File, error)
	// ListFiles returns ownerID's files, newest first; ErrInvalidInput for a bad cursor.
	ListFiles(ctx context.Context, ownerID string, opts ListOptions) (Page, error)
	// DeleteFile removes the row and returns it; ErrNotFound if ownerID has no such file.
	DeleteFile(ctx context.Context, ownerID string, id uuid.UUID) (File, error)
}

// Servable returns nil if f's bytes may be served, ErrScanPending or ErrRejected if not. Every
// path that serves bytes (owner, share, link) asks it, from the row it already read: no
// extra query on the download path.
func Servable(f File) error {
	switch f.Status {
	case StatusPendingScan:
		return ErrScanPending
	case StatusRejected:
		return ErrRejected
	}
	return nil
}

// Blob is an open stored object: a seekable reader of known size.
type Blob interface {
	io.ReadSeekCloser
}

// BlobStore keeps file bytes.
type BlobStore interface {
	// Put streams r into a new blob under key and returns the bytes written. When Put returns
	// nil the blob is durable; on error nothing remains under key. ErrStorageFull when out of
	// space.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Open opens the blob for reading; ErrNotFound if it is gone.
	Open(ctx context.Context, key string) (Blob, error)
	// Delete removes the blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, key string) error
}

// BlobInfo describes one complete blob, as a BlobLister reports it.
type BlobInfo struct {
	Key     string
	Size    int64
	ModTime time.Time // when the blob was completed
}

// BlobLister is a BlobStore that can enumerate its complete blobs, which the garbage
// collector needs to find orphans. In-progress writes are never listed.
type BlobLister interface {
	// ListBlobs calls fn for every complete blob last modified before before, in no
	// particular order, and stops at fn's first error, which it returns.
	ListBlobs(ctx context.Context, before time.Time, fn func(BlobInfo) error) error
}

// IncompleteSweeper is a BlobStore whose interrupted writes can leave debris behind (temporary
// files after a crash, multipart uploads after a lost connection).
type IncompleteSweeper interface {
	// SweepIncomplete removes interrupted writes begun (or last written) before before and
	// returns how many it removed. A write still in progress must be younger than before.
	SweepIncomplete(ctx context.Context, before time.Time) (int, error)
}
