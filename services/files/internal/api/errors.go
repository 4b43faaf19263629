package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/httplog"
	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Stable problem codes.
const (
	codeNotFound          = "not_found"
	codeInvalidRequest    = "invalid_request"
	codeTooLarge          = "file_too_large"
	codeQuota             = "quota_exceeded"
	codeDigestMismatch    = "digest_mismatch"
	codeStorageFull       = "insufficient_storage"
	codeUnavailable       = "unavailable"
	codeUnauthorized      = "unauthorized"
	codeInvalidToken      = "invalid_token"
	codeInsufficientScope = "insufficient_scope"
	codeLinksDisabled     = "links_disabled"
	codeUserNotFound      = "user_not_found"
	codeTooManyAttempts   = "too_many_attempts"
	codeRequestLimit      = "request_limit"
	codeScanPending       = "scan_pending"
	codeFileRejected      = "file_rejected"
	codeRejectedByPolicy  = "rejected_by_policy"
	codeChecksumMismatch  = "checksum_mismatch"
	codeOffsetMismatch    = "mismatched_offset"
	codeUploadExpired     = "upload_expired"
	codeContentMissing    = "content_missing"
	codeInvalidSort       = "invalid_sort"
)

const (
	statusChecksumMismatch = 460 // tus checksum extension
	statusClientClosed     = 499 // nginx's: the client closed the request
)

// Errors is the file service's one map from errors to problem responses. Every route uses
// it, the tus routes included (tus.Config.Problem is Errors.Problem), so an error gets the same
// status, code and headers whichever way it was reached.
type Errors struct {
	// Logger receives the errors a client did not cause (logged once, here).
	Logger *slog.Logger
	// MaxFileSize is the upload limit a file_too_large problem names.
	MaxFileSize int64
}

// Problem maps err to its problem response. Only unexpected errors are logged (with attrs),
// and no error's text reaches the client: what the client reads comes from a field of a typed
// error (files.InputError's Reason), never from err.Error().
func (e Errors) Problem(ctx context.Context, err error, attrs ...any) *problem.Details {
	var p *problem.Details
	var maxBytes *http.MaxBytesError
	var input *files.InputError
	var scope *scopeError
	var throttled *files.ThrottledError
	var refused *files.PolicyError
	switch {
	case errors.As(err, &p):
	case errors.Is(err, errNoToken):
		p = problem.New(http.StatusUnauthorized, codeUnauthorized, "a bearer access token is required")
		p.Header = http.Header{"Www-Authenticate": {`Bearer realm="coffer"`}}
	case errors.Is(err, errInvalidToken):
		e.Logger.DebugContext(ctx, "token rejected", "err", err)
		p = problem.New(http.StatusUnauthorized, codeInvalidToken, "the access token is invalid or expired")
		p.Header = http.Header{"Www-Authenticate": {`Bearer realm="coffer", error="invalid_token"`}}
	case errors.As(err, &scope):
		p = problem.New(http.StatusForbidden, codeInsufficientScope, "the access token lacks the "+scope.scope+" scope")
		p.Header = http.Header{"Www-Authenticate": {`Bearer realm="coffer", error="insufficient_scope", scope="` + scope.scope + `"`}}
	case errors.Is(err, errNotAdmin):
		p = problem.New(http.StatusForbidden, codeAdminRequired, "this route needs an access token with the admin role")
	case errors.Is(err, files.ErrUserNotFound):
		p = problem.New(http.StatusNotFound, codeUserNotFound, "no user has that username")
	case errors.Is(err, files.ErrKeyUsed): // its file was deleted while the upload ran
		p = problem.New(http.StatusConflict, "idempotency_key_used", "this Idempotency-Key was used for a file since deleted; retry with a new key")
	case errors.Is(err, files.ErrContentMissing):
		p = problem.New(http.StatusGone, codeContentMissing, "this file's content was lost from storage; delete the file or ask the operator to restore it from a backup")
	case errors.Is(err, files.ErrNotFound):
		p = problem.New(http.StatusNotFound, codeNotFound, "file not found")
	case errors.As(err, &throttled):
		p = problem.New(http.StatusTooManyRequests, codeTooManyAttempts, "too many passwords tried on this link; retry later")
		p.RetryAfter = throttled.RetryAfter
	case errors.Is(err, files.ErrRequestLimit):
		p = problem.New(http.StatusRequestEntityTooLarge, codeRequestLimit, "this upload would pass the file request's file or byte limit")
	case errors.Is(err, files.ErrScanPending):
		p = problem.New(http.StatusConflict, codeScanPending, "the file is waiting for its virus scan; retry later")
		p.RetryAfter = 5 * time.Second
	case errors.Is(err, files.ErrRejected):
		p = problem.New(http.StatusGone, codeFileRejected, "the virus scanner rejected this file; its content is gone")
	case errors.As(err, &refused):
		p = problem.New(http.StatusForbidden, codeRejectedByPolicy, refused.Message)
	case errors.Is(err, files.ErrTooLarge):
		p = problem.New(http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("files are limited to %d bytes", e.MaxFileSize))
	case errors.As(err, &maxBytes):
		p = problem.New(http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("request body exceeds %d bytes", maxBytes.Limit))
	case errors.Is(err, files.ErrQuotaExceeded):
		p = problem.New(http.StatusRequestEntityTooLarge, codeQuota, "this upload would exceed your storage quota")
	case errors.Is(err, files.ErrDigestMismatch):
		p = problem.New(http.StatusBadRequest, codeDigestMismatch, "the body does not match the digest sent with it")
	case errors.Is(err, files.ErrChecksumMismatch):
		// The tus checksum extension's own status.
		p = problem.New(statusChecksumMismatch, codeChecksumMismatch, "the body does not match its Upload-Checksum")
		p.Title = "Checksum Mismatch"
	case errors.Is(err, files.ErrOffsetMoved):
		p = problem.New(http.StatusConflict, codeOffsetMismatch, "the upload's offset is not the one this request started from")
	case errors.Is(err, files.ErrUploadExpired):
		p = problem.New(http.StatusGone, codeUploadExpired, "the upload has expired")
	case errors.Is(err, files.ErrLinksDisabled):
		p = problem.New(http.StatusNotImplemented, codeLinksDisabled, "signed links are not configured on this service")
	case errors.Is(err, files.ErrBadSort):
		p = problem.New(http.StatusBadRequest, codeInvalidSort, "sort must be name, size or modified and order asc or desc (search and shared listings: name and newest first only)")
	case errors.As(err, &input):
		p = problem.New(http.StatusBadRequest, codeInvalidRequest, "invalid input: "+input.Reason)
	case errors.Is(err, files.ErrInvalidInput):
		p = problem.New(http.StatusBadRequest, codeInvalidRequest, files.ErrInvalidInput.Error())
	case errors.Is(err, files.ErrStorageFull):
		e.Logger.ErrorContext(ctx, "storage full", append(attrs, "err", err)...)
		p = problem.New(http.StatusInsufficientStorage, codeStorageFull, "the file store is out of space")
	case errors.Is(err, files.ErrUnavailable):
		e.Logger.WarnContext(ctx, "dependency unavailable", append(attrs, "err", err)...)
		p = problem.New(http.StatusServiceUnavailable, codeUnavailable, "a backing service is unavailable; retry shortly")
		p.RetryAfter = 2 * time.Second
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The client went away mid-request; there is nobody to answer.
		p = problem.New(statusClientClosed, "client_closed", "request cancelled")
	default:
		e.Logger.ErrorContext(ctx, "request failed", append(attrs, "err", err)...)
		p = problem.New(http.StatusInternalServerError, "internal", "internal error")
	}
	return p
}

// error answers c with err's problem response (Errors.Problem).
func (s *Server) error(c *gin.Context, err error) {
	s.problem(c, s.errs.Problem(c.Request.Context(), err, "method", c.Request.Method, "path", logPath(c)))
}

// logPath is the request path as logs may show it: without a link token (see httplog.PathKey).
func logPath(c *gin.Context) string {
	if p := c.GetString(httplog.PathKey); p != "" {
		return p
	}
	return c.Request.URL.Path
}
