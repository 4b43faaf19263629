package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCORS(t *testing.T) {
	const app = "https://app.example.com"
	s := NewServer(discard, nil, nil, nil, Options{CORS: CORS{Origins: []string{app, "http://127.0.0.1:5173"}}})
	do := func(method, path, origin string, h map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	preflight := map[string]string{"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "authorization, tus-resumable, upload-offset, content-type"}

	t.Run("preflight on any route", func(t *testing.T) {
		for _, path := range []string{"/v1/files", "/v1/files/0b8a7e5e-3a6d-4c1e-9d59-0f4f5a6b7c8d/content", "/v1/uploads/abc", "/no/such/route"} {
			rec := do(http.MethodOptions, path, app, preflight)
			if rec.Code != http.StatusNoContent {
				t.Errorf("OPTIONS %s: got %d, want 204", path, rec.Code)
			}
			h := rec.Header()
			if got := h.Get("Access-Control-Allow-Origin"); got != app {
				t.Errorf("OPTIONS %s: Allow-Origin %q, want %q", path, got, app)
			}
			for _, want := range []string{"Authorization", "Content-Type", "Repr-Digest", "Range", "If-Range", "Tus-Resumable", "Upload-Offset", "Upload-Length", "Upload-Metadata", "Upload-Checksum"} {
				if !hasToken(h.Get("Access-Control-Allow-Headers"), want) {
					t.Errorf("OPTIONS %s: Allow-Headers %q lacks %s", path, h.Get("Access-Control-Allow-Headers"), want)
				}
			}
			for _, want := range []string{"PATCH", "DELETE", "POST", "HEAD"} {
				if !hasToken(h.Get("Access-Control-Allow-Methods"), want) {
					t.Errorf("OPTIONS %s: Allow-Methods %q lacks %s", path, h.Get("Access-Control-Allow-Methods"), want)
				}
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("OPTIONS %s: credentials allowed; the API takes bearer tokens only", path)
			}
			if !hasToken(strings.Join(h.Values("Vary"), ","), "Origin") {
				t.Errorf("OPTIONS %s: Vary %q lacks Origin", path, h.Values("Vary"))
			}
		}
	})

	t.Run("answers readable by an allowed origin", func(t *testing.T) {
		rec := do(http.MethodGet, "/v1/files", app, nil) // no token: 401
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("GET /v1/files without token: got %d, want 401", rec.Code)
		}
		h := rec.Header()
		if got := h.Get("Access-Control-Allow-Origin"); got != app {
			t.Errorf("Allow-Origin %q, want %q", got, app)
		}
		for _, want := range []string{"Location", "ETag", "Repr-Digest", "Content-Disposition", "Content-Range", "Retry-After", "WWW-Authenticate", "Upload-Offset", "Upload-Length", "Upload-Expires", "Tus-Resumable", "Coffer-File-Id"} {
			if !hasToken(h.Get("Access-Control-Expose-Headers"), want) {
				t.Errorf("Expose-Headers %q lacks %s", h.Get("Access-Control-Expose-Headers"), want)
			}
		}
	})

	t.Run("nothing for other origins", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example.com", "https://app.example.com.evil.com", "http://app.example.com", "null", ""} {
			for _, method := range []string{http.MethodOptions, http.MethodGet} {
				rec := do(method, "/v1/files", origin, preflight)
				if rec.Code == http.StatusNoContent {
					t.Errorf("%s from %q: preflight answered 204", method, origin)
				}
				for k := range rec.Header() {
					if strings.HasPrefix(k, "Access-Control-") {
						t.Errorf("%s from %q: sent %s", method, origin, k)
					}
				}
			}
		}
	})

	t.Run("preflight answers are cached 600 s unless configured", func(t *testing.T) {
		if got := do(http.MethodOptions, "/v1/files", app, preflight).Header().Get("Access-Control-Max-Age"); got != "600" {
			t.Errorf("default Max-Age %q, want 600", got)
		}
		s := NewServer(discard, nil, nil, nil, Options{CORS: CORS{Origins: []string{app}, MaxAge: 30}})
		req := httptest.NewRequest(http.MethodOptions, "/v1/files", nil)
		req.Header.Set("Origin", app)
		for k, v := range preflight {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if got := rec.Header().Get("Access-Control-Max-Age"); got != "30" {
			t.Errorf("configured Max-Age %q, want 30", got)
		}
	})

	t.Run("off when no origin is configured", func(t *testing.T) {
		s := newTestServer()
		req := httptest.NewRequest(http.MethodOptions, "/v1/files", nil)
		req.Header.Set("Origin", app)
		req.Header.Set("Access-Control-Request-Method", "GET")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("preflight with CORS off: got %d, want 405", rec.Code)
		}
		for k := range rec.Header() {
			if strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
				t.Errorf("CORS off: sent %s", k)
			}
		}
	})
}

// hasToken reports whether the comma-separated list holds tok (case-insensitive).
func hasToken(list, tok string) bool {
	for _, v := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(v), tok) {
			return true
		}
	}
	return false
}
