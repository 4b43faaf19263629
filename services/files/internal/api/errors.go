package api

import (
	"context"
	"errors"
	"fmt"
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
)

// error maps any error to its problem response: the one place errors become HTTP. Only
// unexpected errors are logged, and no error's text reaches the client: what the client reads
// comes from a field of a typed error (files.InputError's Reason), never from err.Error().
func (s *Server) error(c *gin.Context, err error) {
	var p *problem.Details
	var maxBytes *http.MaxBytesError
	var input *files.InputError
	var scope *scopeError
	var throttled *files.ThrottledError
	switch {
	case errors.As(err, &p):
	case errors.Is(err, errNoToken):
		p = problem.New(http.StatusUnauthorized, codeUnauthorized, "a bearer access token is required")
		p.Header = http.Header{"Www-Authenticate": {`Bearer realm="coffer"`}}
	case errors.Is(err, errInvalidToken):
		s.logger.DebugContext(c.Request.Context(), "token rejected", "err", err)
		p = problem.New(http.StatusUnauthorized, codeInvalidToken, "the access token is invalid or expired")
		p.Header = http.Header{"Www-Authenticate": {`Bearer realm="coffer", error="invalid_token"`}}
	case errors.As(err, &scope):
		p = problem.New(http.StatusForbidden, codeInsufficientScope, "the access token lacks the "+scope.scope+" scope")
		p.Header = http.Header{"Www-Authenticate": {`Bearer realm="coffer", error="insufficient_scope", scope="` + scope.scope + `"`}}
	case errors.Is(err, files.ErrUserNotFound):
		p = problem.New(http.StatusNotFound, codeUserNotFound, "no user has that username")
	case errors.Is(err, files.ErrNotFound):
		p = problem.New(http.StatusNotFound, codeNotFound, "file not found")
	case errors.As(err, &throttled):
		p = problem.New(http.StatusTooManyRequests, codeTooManyAttempts, "too many passwords tried on this link; retry later")
		p.RetryAfter = throttled.RetryAfter
	case errors.Is(err, files.ErrRequestLimit):
		p = problem.New(http.StatusRequestEntityTooLarge, codeRequestLimit, "this upload would pass the file request's file or byte limit")
	case errors.Is(err, files.ErrTooLarge):
		p = problem.New(http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("files are limited to %d bytes", s.files.MaxFileSize()))
	case errors.As(err, &maxBytes):
		p = problem.New(http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("request body exceeds %d bytes", maxBytes.Limit))
	case errors.Is(err, files.ErrQuotaExceeded):
		p = problem.New(http.StatusRequestEntityTooLarge, codeQuota, "this upload would exceed your storage quota")
	case errors.Is(err, files.ErrDigestMismatch):
		p = problem.New(http.StatusBadRequest, codeDigestMismatch, "the body does not match the digest sent with it")
	case errors.Is(err, files.ErrLinksDisabled):
		p = problem.New(http.StatusNotImplemented, codeLinksDisabled, "signed links are not configured on this service")
	case errors.As(err, &input):
		p = problem.New(http.StatusBadRequest, codeInvalidRequest, "invalid input: "+input.Reason)
	case errors.Is(err, files.ErrInvalidInput):
		p = problem.New(http.StatusBadRequest, codeInvalidRequest, files.ErrInvalidInput.Error())
	case errors.Is(err, files.ErrStorageFull):
		s.logger.ErrorContext(c.Request.Context(), "storage full", "err", err)
		p = problem.New(http.StatusInsufficientStorage, codeStorageFull, "the file store is out of space")
	case errors.Is(err, files.ErrUnavailable):
		s.logger.WarnContext(c.Request.Context(), "dependency unavailable", "path", logPath(c), "err", err)
		p = problem.New(http.StatusServiceUnavailable, codeUnavailable, "a backing service is unavailable; retry shortly")
		p.RetryAfter = 2 * time.Second
	case errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil:
		// The client went away mid-request; there is nobody to answer.
		p = problem.New(499, "client_closed", "request cancelled")
	default:
		s.logger.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method, "path", logPath(c), "err", err)
		p = problem.New(http.StatusInternalServerError, "internal", "internal error")
	}
	s.problem(c, p)
}

// logPath is the request path as logs may show it: without a link token (see httplog.PathKey).
func logPath(c *gin.Context) string {
	if p := c.GetString(httplog.PathKey); p != "" {
		return p
	}
	return c.Request.URL.Path
}
