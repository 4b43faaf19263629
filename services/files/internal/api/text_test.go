package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPlainText: a NUL byte or invalid UTF-8 anywhere in the decoded path or query string is
// a 400 problem before any handler (or the database) sees it, token or not.
func TestPlainText(t *testing.T) {
	s := newTestServer()
	for _, target := range []string{
		"/v1/files?prefix=%00", "/v1/files?prefix=%ff", "/v1/files?prefix=%c3%28", "/v1/files?cursor=a%00",
		"/v1/files?%00=1", "/v1/files/%00", "/v1/files/%c3%28/content", "/v1/links/a%00b", "/v1/uploads/%ff",
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		var p struct{ Code string }
		_ = json.Unmarshal(rec.Body.Bytes(), &p)
		if rec.Code != http.StatusBadRequest || p.Code != codeInvalidRequest {
			t.Errorf("GET %s: %d %s, want 400 %s", target, rec.Code, rec.Body, codeInvalidRequest)
		}
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/files?prefix=%c3%a9t%C3%A9", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("valid UTF-8 in the query: %d, want 401 (on to authentication)", rec.Code)
	}
}
