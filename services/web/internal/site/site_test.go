package site_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cofferhq/coffer/services/web/internal/assets"
	"github.com/cofferhq/coffer/services/web/internal/site"
)

var cfg = site.Config{AuthURL: "https://auth.example.com", FilesURL: "https://files.example.com:8443/", ClientID: "coffer-web", Scope: "files:read files:write"}

func newSite(t *testing.T, ready bool) http.Handler {
	t.Helper()
	fs := fstest.MapFS{
		"index.html":          {Data: []byte("<!doctype html><title>Coffer</title>")},
		"favicon.svg":         {Data: []byte("<svg/>")},
		"assets/index-abc.js": {Data: []byte("console.log(1)")},
	}
	h, err := site.New(slog.New(slog.DiscardHandler), fs, cfg, func() bool { return ready })
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRoutes(t *testing.T) {
	h := newSite(t, true)
	tests := []struct {
		method, path string
		status       int
		ctype, cache string
		body         string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		{"GET", "/callback", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		{"GET", "/l", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		{"GET", "/s/AbC123", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		{"GET", "/r/AbC123", 200, "text/html; charset=utf-8", "no-cache", "<!doctype html>"},
		{"GET", "/assets/index-abc.js", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "console.log(1)"},
		{"GET", "/favicon.svg", 200, "image/svg+xml", "no-cache", "<svg/>"},
		{"HEAD", "/", 200, "text/html; charset=utf-8", "no-cache", ""},
		{"GET", "/assets/missing.js", 404, "text/plain; charset=utf-8", "no-cache", "not found"},
		{"GET", "/healthz", 200, "text/plain; charset=utf-8", "no-store", "ok"},
		{"GET", "/readyz", 200, "text/plain; charset=utf-8", "no-store", "ready"},
		{"GET", "/config.json", 200, "application/json", "no-cache", `"client_id":"coffer-web"`},
		{"POST", "/", 405, "", "", ""},
		{"DELETE", "/config.json", 405, "", "", ""},
	}
	for _, tt := range tests {
		rec := get(h, tt.method, tt.path, nil)
		if rec.Code != tt.status {
			t.Errorf("%s %s: got %d, want %d", tt.method, tt.path, rec.Code, tt.status)
			continue
		}
		if tt.ctype != "" && rec.Header().Get("Content-Type") != tt.ctype {
			t.Errorf("%s %s: Content-Type %q, want %q", tt.method, tt.path, rec.Header().Get("Content-Type"), tt.ctype)
		}
		if tt.cache != "" && rec.Header().Get("Cache-Control") != tt.cache {
			t.Errorf("%s %s: Cache-Control %q, want %q", tt.method, tt.path, rec.Header().Get("Cache-Control"), tt.cache)
		}
		if !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("%s %s: body %q lacks %q", tt.method, tt.path, rec.Body.String(), tt.body)
		}
		// Every answer, errors included, carries the security headers.
		if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: security headers missing: %v", tt.method, tt.path, rec.Header())
		}
	}
}

// TestLogsLeaveOutPublicIDs: the pages of short links and file requests carry their
// credential in the path; the request log shows the page, not the id.
func TestLogsLeaveOutPublicIDs(t *testing.T) {
	var logs strings.Builder
	fs := fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}}
	h, err := site.New(slog.New(slog.NewTextHandler(&logs, nil)), fs, cfg, func() bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/s/SecretShortLinkId1", "/r/SecretRequestId22"} {
		if rec := get(h, "GET", p, nil); rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, rec.Code)
		}
	}
	if got := logs.String(); strings.Contains(got, "Secret") || !strings.Contains(got, "path=/s/…") || !strings.Contains(got, "path=/r/…") {
		t.Fatalf("logs: %s", got)
	}
}

func TestConfigJSON(t *testing.T) {
	rec := get(newSite(t, true), "GET", "/config.json", nil)
	var got map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"auth_url": cfg.AuthURL, "files_url": cfg.FilesURL, "client_id": cfg.ClientID, "scope": cfg.Scope}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("config.json %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	rec := get(newSite(t, true), "GET", "/", nil)
	csp := rec.Header().Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	want := map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"style-src":       "'self'",
		"connect-src":     "'self' https://auth.example.com https://files.example.com:8443",
		"frame-ancestors": "'none'",
		"base-uri":        "'none'",
		"form-action":     "'none'",
		// Previews: object URLs the page made, nothing else; no plugins.
		"img-src":   "'self' blob:",
		"frame-src": "blob:",
	}
	for _, absent := range []string{"object-src", "child-src", "worker-src"} {
		if _, ok := directives[absent]; ok {
			t.Errorf("CSP sets %s (default-src 'none' must govern it): %q", absent, csp)
		}
	}
	for k, v := range want {
		if directives[k] != v {
			t.Errorf("CSP %s = %q, want %q (policy %q)", k, directives[k], v, csp)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "data: 'self'"} {
		if strings.Contains(directives["script-src"]+directives["style-src"]+directives["connect-src"], bad) {
			t.Errorf("CSP allows %s: %q", bad, csp)
		}
	}
	for k, v := range map[string]string{
		"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
	} {
		if rec.Header().Get(k) != v {
			t.Errorf("%s = %q, want %q", k, rec.Header().Get(k), v)
		}
	}
}

func TestConditionalGet(t *testing.T) {
	h := newSite(t, true)
	rec := get(h, "GET", "/assets/index-abc.js", nil)
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if rec := get(h, "GET", "/assets/index-abc.js", map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: got %d, want 304", rec.Code)
	}
}

func TestNotReadyWhenStopping(t *testing.T) {
	rec := get(newSite(t, false), "GET", "/readyz", nil)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz while stopping: got %d, want 503", rec.Code)
	}
}

func TestRefusesBrokenAssetsAndURLs(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	if _, err := site.New(logger, fstest.MapFS{"x.js": {Data: []byte("x")}}, cfg, func() bool { return true }); err == nil {
		t.Error("accepted assets without index.html")
	}
	bad := cfg
	bad.FilesURL = "files.example.com"
	if _, err := site.New(logger, fstest.MapFS{"index.html": {}}, bad, func() bool { return true }); err == nil {
		t.Error("accepted a files URL without scheme")
	}
}

// TestEmbeddedAppIsBuilt guards the committed build: the embedded index.html loads its script
// and style from /assets/ (no inline code, which the CSP would block).
func TestEmbeddedAppIsBuilt(t *testing.T) {
	f, err := assets.FS().Open("index.html")
	if err != nil {
		t.Fatal("no built index.html; run make web:", err)
	}
	b, _ := io.ReadAll(f)
	html := string(b)
	if !strings.Contains(html, `<script type="module" crossorigin src="/assets/`) || !strings.Contains(html, `<link rel="stylesheet" crossorigin href="/assets/`) {
		t.Errorf("index.html does not load the built bundle:\n%s", html)
	}
	if strings.Contains(html, "<script>") || strings.Contains(html, "<style") || strings.Contains(html, " style=") || strings.Contains(html, "/src/main.ts") {
		t.Errorf("index.html has inline code or is not built:\n%s", html)
	}
}
