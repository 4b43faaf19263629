// Package tus serves resumable uploads (the tus 1.0.0 protocol) with tusd's handler as a
// library: tusd parses the protocol; this package is a thin adapter, the tusd DataStore and
// Locker over files.Resumable, as tusd's own filestore is over a directory. The rules of an
// upload (quota hold, expiry, the SHA-256 carried across requests, completion) live in the
// files domain beside direct uploads; its state in PostgreSQL and its bytes in the blob store,
// so any file node continues an upload begun on another.
//
// What this package adds to tusd at the protocol level: the headers of the checksum
// (Upload-Checksum sha256, 460 on a mismatch) and expiration (Upload-Expires) extensions,
// Repr-Digest for the whole file, owner-only access, and problem+json errors from the file
// service's one error map (Config.Problem).
package tus

import (
	"context"
	"errors"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Uploads is what the adapter needs of the domain (files.Resumable). Every method's errors
// are the domain's, mapped to responses by Config.Problem.
type Uploads interface {
	Create(ctx context.Context, req files.NewUpload) (files.Upload, error)
	Get(ctx context.Context, ownerID string, id uuid.UUID) (files.Upload, error)
	ByIdempotencyKey(ctx context.Context, ownerID, key string) (files.Upload, error)
	Resume(ctx context.Context, ownerID string, id uuid.UUID) (files.Upload, error)
	Expired(u files.Upload) bool
	Write(ctx context.Context, u *files.Upload, offset int64, body io.Reader, chunkSum []byte) (int64, error)
	Complete(ctx context.Context, u *files.Upload, wantSHA256 []byte) (files.File, error)
	Cancel(ctx context.Context, u files.Upload) error
	Lock(ctx context.Context, id uuid.UUID, onRelease func()) (unlock func(), err error)
	MaxFileSize() int64
}

// Config holds the adapter's settings; all are required.
type Config struct {
	// BasePath is the URL path (or absolute URL) of the upload collection.
	BasePath string
	// IdleTimeout is how long a PATCH body may send nothing before it is cut off.
	IdleTimeout time.Duration
	// Problem maps an error to its response: the file service's one map (api.Errors.Problem).
	Problem func(ctx context.Context, err error, attrs ...any) *problem.Details
}

// Store is the tusd DataStore, Terminater and Locker of Coffer's resumable uploads.
type Store struct {
	uploads Uploads
	cfg     Config
}

// NewStore wires a Store.
func NewStore(uploads Uploads, cfg Config) *Store {
	return &Store{uploads: uploads, cfg: cfg}
}

var (
	_ handler.DataStore           = (*Store)(nil)
	_ handler.TerminaterDataStore = (*Store)(nil)
	_ handler.Locker              = (*Store)(nil)
)

// request is what the HTTP layer learned about one request, carried to the store in its
// context (tusd keeps the request context's values), and what the store tells the response.
type request struct {
	owner     string
	via       *files.Request   // the file request an anonymous uploader came through, if any
	chunkSum  []byte           // Upload-Checksum: the SHA-256 of this request's body
	wholeSum  []byte           // Repr-Digest: the SHA-256 of the whole file
	expiresAt time.Time        // the upload's expiry, sent as Upload-Expires on success
	fileID    string           // set when the upload is complete (by this request or before)
	completed *files.File      // the file, when this very request completed the upload
	idemKey   string           // a creation's Idempotency-Key, recorded with the upload
	problem   *problem.Details // the response of the store's error, if it failed
}

type requestKey struct{}

func requestFrom(ctx context.Context) *request {
	if r, ok := ctx.Value(requestKey{}).(*request); ok {
		return r
	}
	return &request{}
}

// fail turns a domain error into the tusd error that carries it, keeping its problem for the
// response (problemWriter writes it instead of tusd's text). tusd's own errors pass as they are.
func (s *Store) fail(ctx context.Context, err error) error {
	var te handler.Error
	if errors.As(err, &te) {
		return te
	}
	p := s.cfg.Problem(ctx, err, "route", "tus")
	requestFrom(ctx).problem = p
	te = handler.NewError(p.Code, p.Detail, p.Status)
	// The headers travel with tusd's response too, should its context lose the request's.
	for k, vs := range p.Header {
		te.HTTPResponse.Header[k] = strings.Join(vs, ", ")
	}
	if p.RetryAfter > 0 {
		te.HTTPResponse.Header["Retry-After"] = strconv.Itoa(int((p.RetryAfter + time.Second - 1) / time.Second))
	}
	return te
}

// NewUpload implements handler.DataStore.
func (s *Store) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	req := requestFrom(ctx)
	if req.owner == "" {
		return nil, s.fail(ctx, files.ErrNotFound)
	}
	if info.SizeIsDeferred || info.IsPartial || info.IsFinal {
		return nil, s.fail(ctx, files.Invalid("Upload-Length is required"))
	}
	name, contentType, err := metadata(info.MetaData)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	nu := files.NewUpload{OwnerID: req.owner, Name: name, ContentType: contentType, Size: info.Size, WantSHA256: req.wholeSum, IdempotencyKey: req.idemKey}
	if req.via != nil {
		// Through a file request: the uploader names themself; retention is the owner's.
		nu.Request, nu.UploaderName = req.via, strings.TrimSpace(info.MetaData["uploader"])
	} else if nu.ExpiresIn, err = files.ParseExpiresIn(info.MetaData["expires_in"]); err != nil {
		return nil, s.fail(ctx, err)
	}
	u, err := s.uploads.Create(ctx, nu)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	req.expiresAt = u.ExpiresAt
	return &upload{s: s, u: u}, nil
}

// metadata reads the file name and type from Upload-Metadata (filename and filetype, or Uppy's
// name and type).
func metadata(m handler.MetaData) (name, contentType string, err error) {
	name, contentType = m["filename"], m["filetype"]
	if name == "" {
		name = m["name"]
	}
	if contentType == "" {
		contentType = m["type"]
	}
	if err := files.ValidateName(name); err != nil {
		return "", "", err
	}
	if contentType == "" {
		return name, "application/octet-stream", nil
	}
	ct, _, err := mime.ParseMediaType(contentType)
	if err != nil || strings.ContainsAny(ct, "\r\n") {
		return "", "", files.Invalid("Upload-Metadata filetype is not a media type")
	}
	return name, ct, nil
}

// GetUpload implements handler.DataStore. Only the caller's own uploads exist for it.
func (s *Store) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	uid, err := uuid.Parse(id)
	if err != nil || uid.String() != id {
		return nil, s.fail(ctx, files.ErrNotFound)
	}
	req := requestFrom(ctx)
	u, err := s.uploads.Resume(ctx, req.owner, uid)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if u.CompletedAt != nil {
		req.fileID = u.ID.String()
	}
	return &upload{s: s, u: u}, nil
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

// WriteChunk implements handler.Upload (files.Resumable.Write).
func (up *upload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	n, err := up.s.uploads.Write(ctx, &up.u, offset, src, requestFrom(ctx).chunkSum)
	if err != nil {
		return 0, up.s.fail(ctx, err)
	}
	return n, nil
}

// GetReader implements handler.Upload. Downloads go through /v1/files once complete.
func (up *upload) GetReader(context.Context) (io.ReadCloser, error) {
	return nil, handler.ErrNotImplemented
}

// FinishUpload implements handler.Upload (files.Resumable.Complete).
func (up *upload) FinishUpload(ctx context.Context) error {
	req := requestFrom(ctx)
	f, err := up.s.uploads.Complete(ctx, &up.u, req.wholeSum)
	if err != nil {
		return up.s.fail(ctx, err)
	}
	req.fileID, req.completed = up.u.ID.String(), &f
	return nil
}

// Terminate implements handler.TerminatableUpload (files.Resumable.Cancel).
func (up *upload) Terminate(ctx context.Context) error {
	if err := up.s.uploads.Cancel(ctx, up.u); err != nil {
		return up.s.fail(ctx, err)
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
	unlock, err := l.s.uploads.Lock(ctx, l.id, requestRelease)
	if err != nil {
		if ctx.Err() != nil {
			return handler.ErrLockTimeout
		}
		return l.s.fail(ctx, err)
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
