package tus

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// tusdErrors names the domain error behind each of tusd's own error codes (and, for a HEAD
// response, which has no body, its status), so that tusd's refusals are answered from the file
// service's one error map too.
var tusdErrors = map[string]error{
	"ERR_UPLOAD_NOT_FOUND":  files.ErrNotFound,
	"ERR_MAX_SIZE_EXCEEDED": files.ErrTooLarge,
	"ERR_MISMATCHED_OFFSET": files.ErrOffsetMoved,
	"404":                   files.ErrNotFound,
	"409":                   files.ErrOffsetMoved,
	"410":                   files.ErrUploadExpired,
	"413":                   files.ErrTooLarge,
}

// problemWriter turns tusd's plain-text error responses ("CODE: detail") into problem+json,
// and adds the headers of the extensions tusd does not know (checksum, expiration).
type problemWriter struct {
	http.ResponseWriter
	r       *http.Request
	req     *request
	problem func(ctx context.Context, err error, attrs ...any) *problem.Details
	pending int // status of an error response held until its body arrives
	done    bool
	code    int // the first status tusd answered with (0: none yet)
}

// status is the status tusd answered with, 0 if none yet.
func (w *problemWriter) status() int { return w.code }

// Unwrap lets tusd's http.ResponseController reach the connection's deadlines.
func (w *problemWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *problemWriter) WriteHeader(status int) {
	if w.code == 0 {
		w.code = status
	}
	if w.done || w.pending != 0 {
		return
	}
	h := w.Header()
	if status >= 400 {
		h.Del("Coffer-File-Id")
		if strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
			w.pending = status
			return
		}
	} else if w.req != nil {
		if w.req.fileID != "" {
			h.Set("Coffer-File-Id", w.req.fileID)
		}
		if !w.req.expiresAt.IsZero() {
			h.Set("Upload-Expires", w.req.expiresAt.UTC().Format(http.TimeFormat))
		}
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
	p := w.req.problem // the store's error, already mapped
	if p == nil || p.Status != status {
		p = w.tusdProblem(status, strings.TrimSpace(body))
	}
	w.Header().Del("Content-Length")
	problem.Write(w.ResponseWriter, w.r, p)
}

// tusdProblem is the problem for an error tusd answered itself: through the error map when it
// names a domain error, else as tusd's code (a protocol error such as a bad Upload-Offset).
func (w *problemWriter) tusdProblem(status int, body string) *problem.Details {
	code, detail, _ := strings.Cut(body, ": ")
	key := code
	if key == "" { // a HEAD response: the status says it all
		key = strconv.Itoa(status)
	}
	if code != "" && !strings.HasPrefix(code, "ERR_") {
		// Not tusd's (its codes start ERR_): the store's, already mapped (fail), whose
		// request record tusd's context did not carry.
		return problem.New(status, code, detail)
	}
	if err, ok := tusdErrors[key]; ok {
		return w.problem(w.r.Context(), err, "route", "tus")
	}
	if status >= 500 {
		// tusd's text may hold an internal error's: the map logs it and answers without it.
		return w.problem(w.r.Context(), errors.New("tusd: "+body), "route", "tus")
	}
	code = strings.ToLower(strings.TrimPrefix(code, "ERR_"))
	if code == "" {
		code = "error"
	}
	return problem.New(status, code, detail)
}

// writeProblem answers a request the adapter refuses before tusd sees it.
func writeProblem(w http.ResponseWriter, r *http.Request, p *problem.Details) {
	w.Header().Set("Tus-Resumable", "1.0.0")
	problem.Write(w, r, p)
}
