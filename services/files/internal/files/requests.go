package files

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// ErrRequestLimit means an upload through a file request would pass its file count or byte
// limit.
var ErrRequestLimit = errors.New("file request limit reached")

// Request is a file request: an upload-only link into its owner's space and quota. Whoever
// holds its short id (and password) may upload files to it; they can neither list, read nor
// overwrite anything.
type Request struct {
	ID          uuid.UUID
	OwnerID     string
	ShortID     string // 128 random bits, base62: the public id
	Title       string
	Message     string
	ExpiresAt   time.Time
	MaxFiles    *int   // nil: no limit
	MaxBytes    *int64 // nil: no limit (the owner's quota still holds)
	RequireName bool   // uploaders must give a name
	// FilesUsed and BytesUsed count what uploads have reserved: begun or arrived.
	FilesUsed    int
	BytesUsed    int64
	PasswordHash string // "" for none; never leaves the service
	ClosedAt     *time.Time
	CreatedAt    time.Time
}

// HasPassword reports whether the request asks for a password.
func (r Request) HasPassword() bool { return r.PasswordHash != "" }

// Open reports whether the request takes uploads at now.
func (r Request) Open(now time.Time) bool { return r.ClosedAt == nil && now.Before(r.ExpiresAt) }

// RequestPage is one page of a request listing, newest first.
type RequestPage struct {
	Requests   []Request
	NextCursor string
}

// RequestStore keeps file requests.
type RequestStore interface {
	// CreateRequest stores r.
	CreateRequest(ctx context.Context, r Request) error
	// RequestByID returns ownerID's request; ErrNotFound if there is none.
	RequestByID(ctx context.Context, ownerID string, id uuid.UUID) (Request, error)
	// RequestByShortID returns the request with that short id, open or not; ErrNotFound.
	RequestByShortID(ctx context.Context, shortID string) (Request, error)
	// ListRequests returns ownerID's requests, newest first; ErrInvalidInput for a bad cursor.
	ListRequests(ctx context.Context, ownerID string, opts ListOptions) (RequestPage, error)
	// CloseRequest closes ownerID's request at now (closing a closed one is not an error) and
	// returns it, publishing a revocation fence; ErrNotFound.
	CloseRequest(ctx context.Context, ownerID string, id uuid.UUID, now time.Time) (Request, error)
	// DeleteRequest removes ownerID's request; the files that arrived stay. ErrNotFound.
	DeleteRequest(ctx context.Context, ownerID string, id uuid.UUID) error
	// ReserveRequestUpload takes one file and size bytes of request id's limits in one atomic
	// step, if the request is open at now: ErrNotFound if it is not (closed, expired, gone),
	// ErrRequestLimit if they do not fit. Parallel uploads cannot pass a limit together.
	ReserveRequestUpload(ctx context.Context, id uuid.UUID, size int64, now time.Time) error
	// CheckRequestOpen returns ErrNotFound unless request id is open at now.
	CheckRequestOpen(ctx context.Context, id uuid.UUID, now time.Time) error
	// ReleaseRequestUpload gives back what an upload that will never arrive reserved.
	ReleaseRequestUpload(ctx context.Context, id uuid.UUID, size int64) error
	// RequestFiles returns the files that arrived through ownerID's request, newest first.
	RequestFiles(ctx context.Context, ownerID string, id uuid.UUID, opts ListOptions) (Page, error)
}

// Requests implements file requests.
type Requests struct {
	store RequestStore
	guard *Guard
	links *Links // for the longest lifetime
	now   func() time.Time
}

// NewRequests wires Requests; their lifetime is bounded like links' (Links.MaxTTL).
func NewRequests(store RequestStore, guard *Guard, links *Links, now func() time.Time) *Requests {
	if now == nil {
		now = time.Now
	}
	return &Requests{store: store, guard: guard, links: links, now: now}
}

// Bounds on what an owner writes on a request and an uploader gives as their name.
const (
	MaxRequestTitleBytes   = 200
	MaxRequestMessageBytes = 2000
	MaxUploaderNameBytes   = 200
)

// RequestOptions are what the owner chooses for a new request.
type RequestOptions struct {
	Title, Message string
	TTL            time.Duration
	MaxFiles       *int
	MaxBytes       *int64
	Password       string
	RequireName    bool
}

// printable reports whether s is UTF-8 without control characters (newlines allowed when
// multiline), so it is safe to show on a page and in listings.
func printable(s string, multiline bool) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return (r < 0x20 && !(multiline && (r == '\n' || r == '\t'))) || r == 0x7f
	})
}

// Create makes a file request of ownerID's.
func (q *Requests) Create(ctx context.Context, ownerID string, o RequestOptions) (Request, error) {
	maxTTL := q.links.MaxTTL()
	switch {
	case o.Title == "" || len(o.Title) > MaxRequestTitleBytes || !printable(o.Title, false):
		return Request{}, Invalid("title must be 1 to %d bytes of printable text", MaxRequestTitleBytes)
	case len(o.Message) > MaxRequestMessageBytes || !printable(o.Message, true):
		return Request{}, Invalid("message must be at most %d bytes of printable text", MaxRequestMessageBytes)
	case o.TTL < time.Second || o.TTL > maxTTL:
		return Request{}, Invalid("expires_in must be between 1 and %d seconds", int(maxTTL/time.Second))
	case o.MaxFiles != nil && (*o.MaxFiles < 1 || *o.MaxFiles > 1_000_000):
		return Request{}, Invalid("max_files must be between 1 and 1000000")
	case o.MaxBytes != nil && *o.MaxBytes < 1:
		return Request{}, Invalid("max_bytes must be positive")
	}
	hash, err := q.guard.HashPassword(ctx, o.Password)
	if err != nil {
		return Request{}, err
	}
	short, err := NewShortID()
	if err != nil {
		return Request{}, err
	}
	now := q.now().UTC().Truncate(time.Microsecond)
	r := Request{
		ID: uuid.New(), OwnerID: ownerID, ShortID: short, Title: o.Title, Message: o.Message, ExpiresAt: now.Add(o.TTL),
		MaxFiles: o.MaxFiles, MaxBytes: o.MaxBytes, RequireName: o.RequireName, PasswordHash: hash, CreatedAt: now,
	}
	if err := q.store.CreateRequest(ctx, r); err != nil {
		return Request{}, err
	}
	return r, nil
}

// Get returns one of ownerID's requests.
func (q *Requests) Get(ctx context.Context, ownerID string, id uuid.UUID) (Request, error) {
	return q.store.RequestByID(ctx, ownerID, id)
}

// List returns a page of ownerID's requests.
func (q *Requests) List(ctx context.Context, ownerID string, opts ListOptions) (RequestPage, error) {
	opts, err := opts.normalize()
	if err != nil {
		return RequestPage{}, err
	}
	return q.store.ListRequests(ctx, ownerID, opts)
}

// Files returns a page of the files that arrived through one of ownerID's requests.
func (q *Requests) Files(ctx context.Context, ownerID string, id uuid.UUID, opts ListOptions) (Page, error) {
	if _, err := q.store.RequestByID(ctx, ownerID, id); err != nil {
		return Page{}, err
	}
	opts, err := opts.normalize()
	if err != nil {
		return Page{}, err
	}
	return q.store.RequestFiles(ctx, ownerID, id, opts)
}

// Close stops a request taking uploads, at once on every node: each upload request checks the
// request's row (Admit, Reserve), and so does each upload's every PATCH.
func (q *Requests) Close(ctx context.Context, ownerID string, id uuid.UUID) (Request, error) {
	// The store publishes the closing's revocation fence (RequestStore.CloseRequest).
	return q.store.CloseRequest(ctx, ownerID, id, q.now().UTC().Truncate(time.Microsecond))
}

// Delete removes a request; it takes no more uploads (as Close), and what arrived stays.
func (q *Requests) Delete(ctx context.Context, ownerID string, id uuid.UUID) error {
	return q.store.DeleteRequest(ctx, ownerID, id) // with a fence, as CloseRequest
}

// Admit checks an uploader's access to the request with that short id: it must exist, be open
// and, if it has one, be given its password. Anything else is ErrNotFound (too many password
// attempts: a *ThrottledError), so requests cannot be probed.
func (q *Requests) Admit(ctx context.Context, shortID, password string) (Request, error) {
	if !ValidShortID(shortID) {
		return Request{}, ErrNotFound
	}
	r, err := q.store.RequestByShortID(ctx, shortID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Request{}, err
	}
	found := err == nil && r.Open(q.now())
	if err := q.guard.Check(ctx, "request", shortID, found, r.PasswordHash, password); err != nil {
		return Request{}, err
	}
	if !found {
		return Request{}, ErrNotFound
	}
	return r, nil
}

// ValidateUploaderName checks the name an uploader gives (required when the request says so).
func ValidateUploaderName(r Request, name string) error {
	switch {
	case name == "" && r.RequireName:
		return Invalid("this request asks for your name (Upload-Metadata uploader)")
	case len(name) > MaxUploaderNameBytes || !printable(name, false):
		return Invalid("uploader name must be at most %d bytes of printable text", MaxUploaderNameBytes)
	}
	return nil
}

// Reserve takes one file of size bytes from an admitted request's limits before a byte is
// stored; Release gives it back when the upload ends without a file.
func (q *Requests) Reserve(ctx context.Context, r Request, size int64) error {
	return q.store.ReserveRequestUpload(ctx, r.ID, size, q.now())
}

// Release gives back an upload's reservation (see Reserve).
func (q *Requests) Release(ctx context.Context, requestID uuid.UUID, size int64) error {
	return q.store.ReleaseRequestUpload(ctx, requestID, size)
}

// StillOpen checks, before each chunk of an upload, that its request still takes uploads:
// closing a request stops the uploads in flight too. ErrNotFound if not.
func (q *Requests) StillOpen(ctx context.Context, requestID uuid.UUID) error {
	return q.store.CheckRequestOpen(ctx, requestID, q.now())
}
