package tus

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/tus/tusd/v2/pkg/handler"
	xslog "golang.org/x/exp/slog"

	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/services/files/internal/digest"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Handler serves the tus protocol under Config.BasePath for callers the HTTP layer has
// authenticated.
type Handler struct {
	store  *Store
	tusd   *handler.UnroutedHandler
	serve  http.Handler // tusd's protocol checks, then the method's handler
	prefix string       // the URL path of the collection, without its trailing slash
}

// NewHandler builds the tusd handler over store; logger receives tusd's warnings and errors.
func NewHandler(store *Store, logger *slog.Logger) (*Handler, error) {
	composer := handler.NewStoreComposer()
	composer.UseCore(store)
	composer.UseTerminater(store)
	composer.UseLocker(store)
	th, err := handler.NewUnroutedHandler(handler.Config{
		StoreComposer:        composer,
		MaxSize:              store.uploads.MaxFileSize(),
		BasePath:             store.cfg.BasePath,
		DisableDownload:      true, // a finished upload is downloaded from /v1/files/{id}
		DisableConcatenation: true,
		// One CORS middleware serves the whole file service.
		Cors:           &handler.CorsConfig{Disable: true},
		Logger:         xslog.New(&logHandler{l: logger}),
		NetworkTimeout: store.cfg.IdleTimeout,
		PreFinishResponseCallback: func(ev handler.HookEvent) (handler.HTTPResponse, error) {
			// The upload's id is the file's: /v1/uploads/{id} is now /v1/files/{id}.
			return handler.HTTPResponse{Header: handler.HTTPHeader{"Coffer-File-Id": ev.Upload.ID}}, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("tus: %w", err)
	}
	h := &Handler{store: store, tusd: th}
	h.prefix = strings.TrimSuffix(store.cfg.BasePath, "/")
	if i := strings.Index(h.prefix, "://"); i >= 0 { // an absolute base: keep its path
		if j := strings.IndexByte(h.prefix[i+3:], '/'); j >= 0 {
			h.prefix = h.prefix[i+3+j:]
		} else {
			h.prefix = ""
		}
	}
	h.serve = th.Middleware(http.HandlerFunc(h.route))
	return h, nil
}

// route dispatches a request whose path has been cut to the upload id.
func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	id := strings.Trim(r.URL.Path, "/")
	switch {
	case id == "" && r.Method == http.MethodPost:
		h.tusd.PostFile(w, r)
	case id != "" && r.Method == http.MethodHead:
		h.tusd.HeadFile(w, r)
	case id != "" && r.Method == http.MethodPatch:
		h.tusd.PatchFile(w, r)
	case id != "" && r.Method == http.MethodDelete:
		h.tusd.DelFile(w, r)
	default:
		writeProblem(w, r, problem.New(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route"))
	}
}

// ServeTus serves one tus request of ownerID ("" only for OPTIONS, the protocol discovery).
// Another user's upload is answered exactly like an unknown one, before tusd takes its lock,
// so nobody can interrupt an upload that is not theirs.
//
// via, when set, is the file request (already admitted: open, password checked) an anonymous
// uploader came through; ownerID is then the request's owner. Such a caller may create
// uploads into the request and continue only those: any other upload is unknown to them.
//
// It returns the file when this request completed the upload (and answered with success),
// so the HTTP layer can audit the upload as it audits a one-request one.
func (h *Handler) ServeTus(w http.ResponseWriter, r *http.Request, ownerID string, via *files.Request) *files.File {
	req := &request{owner: ownerID, via: via}
	pw := &problemWriter{ResponseWriter: w, r: r, req: req, problem: h.store.cfg.Problem}
	defer pw.finish()
	rest, ok := strings.CutPrefix(r.URL.Path, h.prefix)
	if !ok {
		writeProblem(w, r, problem.New(http.StatusNotFound, "not_found", "no such route"))
		return nil
	}
	id := strings.Trim(rest, "/")
	method := r.Method
	if o := r.Header.Get("X-HTTP-Method-Override"); method == http.MethodPost && o != "" {
		method = o
	}
	fail := func(err error) { writeProblem(w, r, h.store.cfg.Problem(r.Context(), err, "route", "tus")) }
	switch {
	case method == http.MethodOptions:
	case ownerID == "":
		writeProblem(w, r, problem.New(http.StatusUnauthorized, "unauthorized", "a bearer access token is required"))
		return nil
	case id != "":
		uid, err := uuid.Parse(id)
		if err != nil || uid.String() != id {
			fail(files.ErrNotFound)
			return nil
		}
		u, err := h.store.uploads.Get(r.Context(), ownerID, uid)
		if err == nil && via != nil && (u.RequestID == nil || *u.RequestID != via.ID) {
			err = files.ErrNotFound // not an upload of this request
		}
		if err != nil {
			fail(err)
			return nil
		}
		switch {
		case u.CompletedAt != nil:
			req.fileID = u.ID.String()
		case method == http.MethodDelete:
		case h.store.uploads.Expired(u):
			fail(files.ErrUploadExpired)
			return nil
		default:
			req.expiresAt = u.ExpiresAt
		}
	}
	if method == http.MethodPost && id == "" && via == nil {
		key, err := files.ParseIdempotencyKey(r.Header["Idempotency-Key"])
		if err != nil {
			fail(err)
			return nil
		}
		if key != "" && h.replay(w, r, ownerID, key) {
			return nil
		}
		req.idemKey = key
	}
	if method == http.MethodPatch && r.Header.Get("Content-Type") != "application/offset+octet-stream" {
		// tus 1.0.0: the server SHOULD answer 415 (tusd answers 400).
		writeProblem(w, r, problem.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "a PATCH body must be application/offset+octet-stream"))
		return nil
	}
	if method == http.MethodPost || method == http.MethodPatch {
		var err error
		if req.chunkSum, err = parseUploadChecksum(r.Header.Get("Upload-Checksum")); err != nil {
			fail(err)
			return nil
		}
		if req.wholeSum, err = digest.Parse(r.Header.Get("Repr-Digest")); err != nil {
			fail(err)
			return nil
		}
	}
	r2 := r.WithContext(context.WithValue(r.Context(), requestKey{}, req))
	u := *r.URL
	u.Path, u.RawPath = "/"+id, ""
	r2.URL = &u
	h.serve.ServeHTTP(pw, r2)
	if req.completed == nil || pw.status() >= 400 {
		return nil
	}
	return req.completed
}

// replay answers a creation whose Idempotency-Key names an upload of the caller with that
// upload, as its creation was answered (201 and its Location), plus its offset, and reports
// whether it did. The client then continues from the offset (HEAD, PATCH) or finds the upload
// complete: a retried creation never starts a second upload. The body of a creation-with-upload
// is not read. An unfinished upload past its expiry is gone for the client: 410, as a HEAD
// would answer.
func (h *Handler) replay(w http.ResponseWriter, r *http.Request, ownerID, key string) bool {
	u, err := h.store.uploads.ByIdempotencyKey(r.Context(), ownerID, key)
	if errors.Is(err, files.ErrNotFound) {
		return false
	}
	if err == nil && h.store.uploads.Expired(u) {
		err = files.ErrUploadExpired
	}
	if err != nil {
		writeProblem(w, r, h.store.cfg.Problem(r.Context(), err, "route", "tus"))
		return true
	}
	hd := w.Header()
	hd.Set("Tus-Resumable", "1.0.0")
	hd.Set("Location", strings.TrimSuffix(h.store.cfg.BasePath, "/")+"/"+u.ID.String())
	hd.Set("Upload-Offset", strconv.FormatInt(u.Received, 10))
	hd.Set("Idempotent-Replayed", "true")
	if u.CompletedAt == nil {
		hd.Set("Upload-Expires", u.ExpiresAt.UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(http.StatusCreated)
	return true
}

// parseUploadChecksum reads the checksum extension's "sha256 <base64>"; sha256 is the one
// algorithm offered (Tus-Checksum-Algorithm).
func parseUploadChecksum(v string) ([]byte, error) {
	if v == "" {
		return nil, nil
	}
	alg, val, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || alg != "sha256" {
		return nil, problem.New(http.StatusBadRequest, "checksum_algorithm", "Upload-Checksum must be sha256 and a base64 digest")
	}
	sum, err := base64.StdEncoding.DecodeString(strings.TrimSpace(val))
	if err != nil || len(sum) != 32 {
		return nil, files.Invalid("Upload-Checksum is not a base64 SHA-256")
	}
	return sum, nil
}

// logHandler passes tusd's warnings and errors to the service's logger; its per-request
// chatter is dropped (the service logs every request itself).
type logHandler struct {
	l     *slog.Logger
	attrs []any
}

func (h *logHandler) Enabled(_ context.Context, l xslog.Level) bool { return l >= xslog.LevelWarn }

func (h *logHandler) Handle(ctx context.Context, r xslog.Record) error {
	args := append([]any{}, h.attrs...)
	r.Attrs(func(a xslog.Attr) bool { args = append(args, a.Key, a.Value.String()); return true })
	h.l.Log(ctx, slog.Level(r.Level), "tusd: "+r.Message, args...)
	return nil
}

func (h *logHandler) WithAttrs(as []xslog.Attr) xslog.Handler {
	n := &logHandler{l: h.l, attrs: append([]any{}, h.attrs...)}
	for _, a := range as {
		n.attrs = append(n.attrs, a.Key, a.Value.String())
	}
	return n
}

func (h *logHandler) WithGroup(string) xslog.Handler { return h }
