// Package site is the web service's HTTP handler: the built single-page app, the /config.json
// that tells it where the auth and file services are, health endpoints, and the security
// headers (a strict Content-Security-Policy among them) on every answer.
package site

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// Config is what the page needs to know about the services it talks to.
type Config struct {
	// AuthURL and FilesURL are the services as the browser reaches them. Their origins are
	// the only ones the page may connect to.
	AuthURL  string
	FilesURL string
	// ClientID is the page's registered public OAuth client; Scope what it asks for.
	ClientID string
	Scope    string
	// Version is the release /healthz reports (pkg/version). Default "".
	Version string
}

// file is one built asset, held in memory with its strong ETag.
type file struct {
	body        []byte
	etag        string
	contentType string
}

type handler struct {
	logger  *slog.Logger
	files   map[string]file // by path without the leading slash
	config  []byte
	headers http.Header
	ready   func() bool
	version string
}

// New returns the handler serving assets (which must hold index.html). ready reports whether
// the process still takes traffic (false once shutdown begins).
func New(logger *slog.Logger, assets fs.FS, cfg Config, ready func() bool) (http.Handler, error) {
	h := &handler{logger: logger, files: map[string]file{}, ready: ready, version: cfg.Version}
	err := fs.WalkDir(assets, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(assets, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.files[p] = file{body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`, contentType: ct}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("site: read assets: %w", err)
	}
	if _, ok := h.files["index.html"]; !ok {
		return nil, fmt.Errorf("site: the built app has no index.html (run make web)")
	}
	authOrigin, err := origin(cfg.AuthURL)
	if err != nil {
		return nil, err
	}
	filesOrigin, err := origin(cfg.FilesURL)
	if err != nil {
		return nil, err
	}
	h.config, err = json.Marshal(map[string]string{
		"auth_url": cfg.AuthURL, "files_url": cfg.FilesURL, "client_id": cfg.ClientID, "scope": cfg.Scope,
	})
	if err != nil {
		return nil, err
	}
	h.headers = securityHeaders(authOrigin, filesOrigin)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.HandleFunc("GET /config.json", h.configJSON)
	mux.HandleFunc("GET /", h.asset)
	return h.logged(h.secured(mux)), nil
}

// origin is scheme://host[:port] of an absolute http(s) URL.
func origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("site: %q is not an http(s) URL", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// securityHeaders confine the page: scripts and styles only from this origin (no inline code,
// no eval), network access only to this origin and the two services, no framing, no plugins,
// frames and images from the page's own object URLs only (previews),
// DOM sinks closed by Trusted Types, and nothing leaked in Referer headers.
func securityHeaders(authOrigin, filesOrigin string) http.Header {
	connect := []string{"'self'", authOrigin}
	if filesOrigin != authOrigin {
		connect = append(connect, filesOrigin)
	}
	csp := strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		// Previews (preview.ts): an image or a PDF from an object URL the page made, and
		// nothing else framed or embedded (object-src stays 'none').
		"img-src 'self' blob:",
		"frame-src blob:",
		"connect-src " + strings.Join(connect, " "),
		"manifest-src 'self'",
		"form-action 'none'",
		"frame-ancestors 'none'",
		"base-uri 'none'",
		"require-trusted-types-for 'script'",
		"trusted-types 'none'",
	}, "; ")
	return http.Header{
		"Content-Security-Policy":      {csp},
		"X-Content-Type-Options":       {"nosniff"},
		"X-Frame-Options":              {"DENY"},
		"Referrer-Policy":              {"no-referrer"},
		"Cross-Origin-Opener-Policy":   {"same-origin"},
		"Cross-Origin-Resource-Policy": {"same-origin"},
		"Permissions-Policy":           {"camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"},
		// Browsers ignore this over plain http, so it costs nothing in development.
		"Strict-Transport-Security": {"max-age=31536000"},
	}
}

func (h *handler) secured(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range h.headers {
			w.Header()[k] = v
		}
		next.ServeHTTP(w, r)
	})
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok " + h.version + "\n"))
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !h.ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("shutting down\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

func (h *handler) configJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", "application/json")
	w.Write(h.config)
}

// asset serves a built file. Hashed files under assets/ are cached for good; any other path
// without a file extension is a page of the app (/, /callback, /l) and gets index.html.
func (h *handler) asset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	f, ok := h.files[name]
	cache := "no-cache"
	switch {
	case ok && strings.HasPrefix(name, "assets/"):
		cache = "public, max-age=31536000, immutable"
	case ok && name != "index.html":
	case !ok && path.Ext(name) == "":
		f = h.files["index.html"]
	case !ok:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("not found\n"))
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Cache-Control", cache)
	w.Header().Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// logged logs one line per request (never the query string, which is where an OAuth
// authorization code arrives).
func (h *handler) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		h.logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", logPath(r.URL.Path)),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
	})
}

// logPath is a path as the log may show it: the pages of short links and file requests
// (/s/{id}, /r/{id}) carry their credential in the path, which the log leaves out.
func logPath(p string) string {
	for _, prefix := range []string{"/s/", "/r/"} {
		if strings.HasPrefix(p, prefix) && len(p) > len(prefix) {
			return prefix + "…"
		}
	}
	return p
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
