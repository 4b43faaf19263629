// Package api is the file service's HTTP interface. routes.go lists every route; errors.go is
// the one place domain errors become RFC 9457 problem responses.
package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/httplog"
	"github.com/cofferhq/coffer/pkg/metrics"
	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/webhook"
)

// Files is what the API needs of the domain service.
type Files interface {
	Upload(ctx context.Context, req files.UploadRequest) (files.File, error)
	Get(ctx context.Context, ownerID string, id uuid.UUID) (files.File, error)
	Open(ctx context.Context, ownerID string, id uuid.UUID) (files.File, files.Blob, error)
	List(ctx context.Context, ownerID string, opts files.ListOptions) (files.Page, error)
	Delete(ctx context.Context, ownerID string, id uuid.UUID) error
	MaxFileSize() int64
}

// TokenVerifier checks bearer tokens (package tokenauth).
type TokenVerifier interface {
	// Verify returns the claims of a valid token. An error matching files.ErrUnavailable
	// means the verifier cannot judge yet (no keys loaded): the request gets 503, not 401.
	// Any other error means the token is refused.
	Verify(ctx context.Context, raw string) (*accesstoken.Claims, error)
}

// Readiness reports whether the node should take traffic.
type Readiness interface {
	// Ready returns nil when the node should take traffic. The Reason of a *NotReadyError
	// is shown to the caller of /readyz; any other error is logged, not shown.
	Ready(ctx context.Context) error
}

// NotReadyError says why a node is not ready, in words written for the caller of /readyz.
type NotReadyError struct{ Reason string }

func (e *NotReadyError) Error() string { return "not ready: " + e.Reason }

// Uploader stores uploads; files.Quota wraps the domain service to enforce quotas.
type Uploader interface {
	Upload(ctx context.Context, req files.UploadRequest) (files.File, error)
}

// Shares is what the API needs for sharing (files.Sharing).
type Shares interface {
	Grant(ctx context.Context, g files.Grant) (files.Share, error)
	Unshare(ctx context.Context, ownerID string, fileID uuid.UUID, userID string) error
	ListShared(ctx context.Context, userID string, opts files.ListOptions) (files.Page, error)
	ListShares(ctx context.Context, ownerID string, fileID uuid.UUID, opts files.ListOptions) (files.SharePage, error)
}

// Users turns the username a person types into the user id (token sub) that shares store.
// The file service holds no user directory; authclient.Client asks the auth service.
type Users interface {
	// LookupUser returns the id of the enabled user with that username, asking on behalf of
	// the caller whose bearer access token is token. files.ErrUserNotFound if there is no
	// such user; files.ErrUnavailable if the directory cannot answer.
	LookupUser(ctx context.Context, token, username string) (userID string, err error)
}

// Links is what the API needs for signed links (files.Links).
type Links interface {
	Create(ctx context.Context, ownerID string, fileID uuid.UUID, opts files.LinkOptions) (files.Link, string, error)
	Revoke(ctx context.Context, ownerID string, fileID, linkID uuid.UUID) error
	List(ctx context.Context, ownerID string, fileID *uuid.UUID, opts files.ListOptions) (files.LinkPage, error)
	Open(ctx context.Context, req files.LinkRequest) (files.File, files.Blob, error)
	Stat(ctx context.Context, req files.LinkRequest) (files.Link, files.File, error)
}

// Webhooks is what the admin API needs to manage webhooks (webhook.Admin).
type Webhooks interface {
	Create(ctx context.Context, url string, types []string) (webhook.Subscription, error)
	List(ctx context.Context) ([]webhook.Subscription, error)
	Delete(ctx context.Context, id uuid.UUID) error
	Failed(ctx context.Context, limit int) ([]webhook.Delivery, error)
	Retry(ctx context.Context, id int64) error
}

// Options holds the optional parts of the Server.
type Options struct {
	// Uploads stores uploads. Default: the Files service itself (no quota).
	Uploads Uploader
	// Shares and Links serve the sharing and link routes; nil answers them 404.
	Shares Shares
	Links  Links
	// Requests serves file requests (upload-only links); nil answers them 404.
	Requests Requests
	// Retention sets file expiries (PATCH /v1/files/{id}); nil answers it 404.
	Retention Retention
	// Users resolves share recipients named by username; nil: shares must name a user_id.
	Users Users
	// PublicURL is the base of link URLs (e.g. https://files.example.com). Default "": link
	// URLs are relative to the node that made them.
	PublicURL string
	// WebURL is the web page's base (e.g. https://app.example.com): links and file requests
	// then carry a page_url for people. Default "": no page URLs.
	WebURL string
	// MaxJSONBytes caps JSON request bodies.
	MaxJSONBytes int64
	// Resumable serves tus uploads at /v1/uploads/; nil answers them 404.
	Resumable Resumable
	// UploadIdleTimeout is how long an upload body may send nothing before it is cut off.
	UploadIdleTimeout time.Duration
	// Metrics, when set, records request, upload and token metrics (NewMetrics).
	Metrics *Metrics
	// Webhooks serves the admin webhook routes (admin role); nil answers them 404.
	Webhooks Webhooks
	// CORS names the browser origins (the web app) allowed to call the API. Default none.
	CORS CORS
	// Folders serves folder listings, search, moves and zips; nil answers them 404.
	Folders Folders
	// Idempotency answers retried uploads (Idempotency-Key); nil ignores the header.
	Idempotency Idempotency
	// Version is the release /healthz reports (pkg/version). Default "".
	Version string
	// Audit records audit events without waiting (audit.go); nil records none.
	Audit Auditor
	// AuditLog serves file activity and the admin audit query; nil answers them 404.
	AuditLog AuditLog
	// Quotas sets per-user quotas for admins (admin.go); nil answers that route 404.
	Quotas Quotas
	// DefaultQuota is the configured per-user quota the admin quota route reports.
	DefaultQuota int64
	// Redirect, when set, answers an authorized GET of /v1/files/{id}/content with a 307 to
	// a short-lived URL of the bytes in the object store (COFFER_FILES_S3_REDIRECT);
	// HEAD, links and zips are still served by the node. nil: every download is proxied.
	Redirect files.BlobURLer
}

// DefaultOptions is the limits of Options unless configured otherwise, and the one place their
// defaults are written: NewServer fills in the fields left zero from it.
func DefaultOptions() Options {
	return Options{MaxJSONBytes: 64 << 10, UploadIdleTimeout: time.Minute}
}

// Server is the file service's HTTP handler.
type Server struct {
	files    Files
	verifier TokenVerifier
	ready    Readiness
	opts     Options
	errs     Errors
	logger   *slog.Logger
	engine   *gin.Engine
}

// NewServer builds the handler.
func NewServer(logger *slog.Logger, f Files, v TokenVerifier, ready Readiness, opts Options) *Server {
	if opts.Uploads == nil {
		opts.Uploads = f
	}
	def := DefaultOptions()
	if opts.UploadIdleTimeout == 0 {
		opts.UploadIdleTimeout = def.UploadIdleTimeout
	}
	if opts.MaxJSONBytes == 0 {
		opts.MaxJSONBytes = def.MaxJSONBytes
	}
	opts.PublicURL = strings.TrimSuffix(opts.PublicURL, "/")
	opts.WebURL = strings.TrimSuffix(opts.WebURL, "/")
	s := &Server{files: f, verifier: v, ready: ready, opts: opts, logger: logger, engine: gin.New()}
	s.errs = Errors{Logger: logger}
	if f != nil {
		s.errs.MaxFileSize = f.MaxFileSize()
	}
	if opts.Metrics != nil {
		s.engine.Use(opts.Metrics.handlers()...)
	}
	s.engine.Use(httplog.Gin(logger), httplog.Recovery(logger), s.cors(opts.CORS), s.canonicalPath)
	s.engine.HandleMethodNotAllowed = true
	// Routes match the decoded path, and canonicalPath refuses any path whose encoding is not
	// the canonical one (%2f, %2e, double encoding), so an encoded slash or dot-segment never
	// becomes a route.
	s.engine.UseRawPath = false
	s.engine.RedirectTrailingSlash = false
	s.engine.RedirectFixedPath = false
	s.engine.NoRoute(func(c *gin.Context) {
		s.problem(c, problem.New(http.StatusNotFound, "not_found", "no such route"))
	})
	s.engine.NoMethod(func(c *gin.Context) {
		s.problem(c, problem.New(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route"))
	})
	s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// canonicalPath answers 400 to a path or query that is not plain text (plainText), and 404 to
// a path sent with non-canonical escapes: net/url records
// those in RawPath, which is empty for every path our routes produce. It also hides a link
// token in the path from the logs and problem bodies of every route, matched or not.
func (s *Server) canonicalPath(c *gin.Context) {
	for prefix, shown := range secretPaths {
		if strings.HasPrefix(c.Request.URL.Path, prefix) || strings.HasPrefix(c.Request.URL.RawPath, prefix) {
			c.Set(httplog.PathKey, shown)
		}
	}
	if err := plainText(c.Request.URL); err != nil {
		s.error(c, err)
		return
	}
	if c.Request.URL.RawPath != "" {
		s.problem(c, problem.New(http.StatusNotFound, "not_found", "no such route"))
		return
	}
	c.Next()
}

// linksPrefix starts the path of a signed link, whose last segment is its token.
const linksPrefix = "/v1/links/"

// secretPaths are the path prefixes whose next segment is a credential (a link token, a short
// link's or file request's id), and the path logs and problem bodies show instead.
var secretPaths = map[string]string{
	linksPrefix:      linksPrefix + "{token}",
	shortLinksPrefix: shortLinksPrefix + "{id}",
	requestsPrefix:   requestsPrefix + "{id}",
}

// problem writes p and stops the handler chain. Its instance is the path as logs show it,
// never a link's token: a response body may be stored or shown by whoever receives it.
func (s *Server) problem(c *gin.Context, p *problem.Details) {
	metrics.SetCode(c, p.Code)
	if p.Instance == "" {
		q := *p
		q.Instance = logPath(c)
		p = &q
	}
	problem.Write(c.Writer, c.Request, p)
	c.Abort()
}

// sendfileWriter gives back the io.ReaderFrom that gin's ResponseWriter hides, so that
// http.ServeContent copies a file to the socket with sendfile(2) instead of through a buffer.
type sendfileWriter struct {
	gin.ResponseWriter
	// plain: the client's connection is a TCP connection of HTTP/1 without TLS, which
	// net/http writes to with splice(2) from another TCP connection (connRanger).
	plain bool
}

// connRanger is a blob whose next n bytes can come straight off a TCP connection (an S3
// object on a plain-HTTP endpoint, s3.blob): head came with the response's headers, rest
// reads the connection. net/http moves rest to a plain client connection with splice(2),
// so the bytes never enter the process. Any error leaves the blob readable as before.
type connRanger interface {
	ConnRange(n int64) (head []byte, rest *io.LimitedReader, release func(), err error)
}

// spliceMin is the smallest range worth a connection of its own (a dial and a request).
const spliceMin = 1 << 20

func (w sendfileWriter) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok && w.plain && lr.N >= spliceMin {
		if cr, ok := lr.R.(connRanger); ok {
			if head, rest, release, err := cr.ConnRange(lr.N); err == nil {
				defer release()
				lr.N = 0
				n, err := w.ResponseWriter.Write(head)
				if err != nil {
					return int64(n), err
				}
				m, err := w.ReadFrom(rest) // a connection: the file branch below
				return int64(n) + m, err
			}
		}
	}
	if !isFile(r) {
		// An S3 object's body or a blob held in memory: net/http would copy it in 32 KiB
		// pieces, one memmove out of the S3 response's read buffer and one write(2) each (the
		// copy was most of a proxied S3 download's CPU). In copyBufSize pieces the S3 body is
		// read straight into the buffer, and each piece is one write.
		w.ResponseWriter.WriteHeaderNow()
		size := int64(copyBufSize)
		if lr, ok := r.(*io.LimitedReader); ok && lr.N < size {
			size = max(lr.N, 1)
		}
		return io.CopyBuffer(struct{ io.Writer }{w.ResponseWriter}, r, make([]byte, size))
	}
	// httplog's writer offers ReadFrom itself and counts the bytes for the access log.
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	w.ResponseWriter.WriteHeaderNow()
	if u, ok := w.ResponseWriter.(interface{ Unwrap() http.ResponseWriter }); ok {
		if rf, ok := u.Unwrap().(io.ReaderFrom); ok {
			return rf.ReadFrom(r)
		}
	}
	return io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
}

// copyBufSize is the piece a non-file body is copied in: at least the S3 transport's read
// buffer (s3.Config), so a read of the object's body bypasses that buffer.
const copyBufSize = 256 << 10

// isFile reports whether r (or what a LimitedReader limits) is a file net/http can send with
// sendfile(2): it needs a syscall.Conn.
func isFile(r io.Reader) bool {
	if lr, ok := r.(*io.LimitedReader); ok {
		r = lr.R
	}
	_, ok := r.(syscall.Conn)
	return ok
}
