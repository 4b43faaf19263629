package tus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

var (
	// errChecksumMismatch is the checksum extension's answer to a body that does not match
	// its Upload-Checksum.
	errChecksumMismatch = newError(460, "checksum_mismatch", "the body does not match its Upload-Checksum")
	errExpired          = newError(http.StatusGone, "upload_expired", "the upload has expired")
)

// newError is a tusd error whose response the HTTP layer turns into a problem: tusd writes
// "code: detail" as a text body, and problemWriter reads the code back.
func newError(status int, code, detail string) handler.Error {
	return handler.NewError(code, detail, status)
}

// tusError maps a domain error to the tusd error (and so the response) for it: the one place
// the store's errors become HTTP. Unexpected errors are logged and answered without detail.
func (s *Store) tusError(ctx context.Context, err error) error {
	var te handler.Error
	switch {
	case errors.As(err, &te):
		return te
	case errors.Is(err, files.ErrNotFound):
		return handler.ErrNotFound
	case errors.Is(err, files.ErrOffsetMoved):
		return handler.ErrMismatchOffset
	case errors.Is(err, files.ErrQuotaExceeded):
		return newError(http.StatusRequestEntityTooLarge, "quota_exceeded", "this upload would exceed your storage quota")
	case errors.Is(err, files.ErrTooLarge):
		return newError(http.StatusRequestEntityTooLarge, "file_too_large", fmt.Sprintf("files are limited to %d bytes", s.cfg.MaxSize))
	case errors.Is(err, files.ErrDigestMismatch):
		return newError(http.StatusBadRequest, "digest_mismatch", "the file does not match the digest sent with it")
	case errors.Is(err, files.ErrInvalidInput):
		detail := err.Error()
		if i := strings.Index(detail, files.ErrInvalidInput.Error()); i > 0 {
			detail = detail[i:]
		}
		return newError(http.StatusBadRequest, "invalid_request", detail)
	case errors.Is(err, files.ErrStorageFull):
		s.logger.ErrorContext(ctx, "storage full", "err", err)
		return newError(http.StatusInsufficientStorage, "insufficient_storage", "the file store is out of space")
	case errors.Is(err, files.ErrUnavailable):
		s.logger.WarnContext(ctx, "dependency unavailable", "err", err)
		return newError(http.StatusServiceUnavailable, "unavailable", "a backing service is unavailable; retry shortly")
	case errors.Is(err, context.Canceled):
		return newError(499, "client_closed", "request cancelled")
	}
	s.logger.ErrorContext(ctx, "upload request failed", "err", err)
	return newError(http.StatusInternalServerError, "internal", "internal error")
}

// problemCodes renames tusd's own error codes to Coffer's where one exists.
var problemCodes = map[string]string{
	"ERR_UPLOAD_NOT_FOUND":      "not_found",
	"ERR_MAX_SIZE_EXCEEDED":     "file_too_large",
	"ERR_INTERNAL_SERVER_ERROR": "internal",
}

// problemWriter turns tusd's plain-text error responses ("CODE: detail") into problem+json,
// and adds the headers of the extensions tusd does not know (checksum, expiration).
type problemWriter struct {
	http.ResponseWriter
	r       *http.Request
	req     *request
	pending int // status of an error response held until its body arrives
	done    bool
}

// Unwrap lets tusd's http.ResponseController reach the connection's deadlines.
func (w *problemWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *problemWriter) WriteHeader(status int) {
	if w.done || w.pending != 0 {
		return
	}
	h := w.Header()
	if status >= 400 {
		h.Del("Upload-Expires")
		h.Del("Coffer-File-Id")
		if strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
			w.pending = status
			return
		}
	}
	if w.req != nil && w.req.fileID != "" {
		h.Set("Coffer-File-Id", w.req.fileID)
	}
	if ext := h.Get("Tus-Extension"); ext != "" {
		h.Set("Tus-Extension", ext+",checksum,expiration")
		h.Set("Tus-Checksum-Algorithm", "sha256")
	}
	w.done = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *problemWriter) Write(b []byte) (int, error) {
	if w.pending != 0 {
		w.writeProblem(string(b))
		return len(b), nil
	}
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// finish sends an error response that never got its body (tusd sends none to HEAD).
func (w *problemWriter) finish() {
	if w.pending != 0 {
		w.writeProblem("")
	}
}

func (w *problemWriter) writeProblem(body string) {
	status := w.pending
	w.pending, w.done = 0, true
	code, detail, _ := strings.Cut(strings.TrimSpace(body), ": ")
	if c, ok := problemCodes[code]; ok {
		code = c
	}
	if code == "internal" || status >= 500 && code == "" {
		detail = "internal error"
	}
	if code == "" {
		code = "error"
	}
	code = strings.ToLower(strings.TrimPrefix(code, "ERR_"))
	p := problem.New(status, code, detail)
	if status == 460 {
		p.Title = "Checksum Mismatch"
	}
	problem.Write(w.ResponseWriter, w.r, p)
}

// writeProblem answers a request the HTTP layer refuses before tusd sees it.
func writeProblem(w http.ResponseWriter, r *http.Request, p *problem.Details) {
	w.Header().Set("Tus-Resumable", "1.0.0")
	problem.Write(w, r, p)
}
