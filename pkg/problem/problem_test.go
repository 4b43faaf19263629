package problem_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cofferhq/coffer/pkg/problem"
)

func TestNew(t *testing.T) {
	p := problem.New(http.StatusConflict, "username_taken", "that username is taken")
	if p.Type != "urn:coffer:problem:username_taken" || p.Title != "Conflict" || p.Status != 409 || p.Code != "username_taken" || p.Detail != "that username is taken" {
		t.Fatalf("New = %+v", p)
	}
	var target *problem.Details
	if err := fmt.Errorf("wrapped: %w", p); !errors.As(err, &target) || target != p || err.Error() != "wrapped: username_taken: that username is taken" {
		t.Fatalf("a problem travels as an error: %v", err)
	}
}

// TestWrite: the status, the problem+json body with its stable members, the headers every
// problem carries, extra headers, Retry-After in whole seconds rounded up, and no header
// left over that described another body.
func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Length", "1234")
	rec.Header().Set("Content-Disposition", `attachment; filename="a"`)
	rec.Header().Set("ETag", `"abc"`)
	rec.Header().Set("Repr-Digest", "sha-256=:x:")
	p := problem.New(http.StatusServiceUnavailable, "unavailable", "retry shortly")
	p.Instance = "/v1/files"
	p.RetryAfter = 1500 * time.Millisecond
	p.Header = http.Header{"Www-Authenticate": {`Bearer realm="coffer"`}}
	problem.Write(rec, httptest.NewRequest(http.MethodGet, "/v1/files?limit=5", nil), p)

	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
	for k, want := range map[string]string{
		"Content-Type":           "application/problem+json",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"Retry-After":            "2",
		"Www-Authenticate":       `Bearer realm="coffer"`,
		"Content-Length":         "",
		"Content-Disposition":    "",
		"Etag":                   "",
		"Repr-Digest":            "",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "urn:coffer:problem:unavailable", "title": "Service Unavailable", "status": float64(503), "detail": "retry shortly", "code": "unavailable", "instance": "/v1/files"}
	if len(body) != len(want) {
		t.Errorf("body members %v, want %v", body, want)
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body[%q] = %v, want %v", k, body[k], v)
		}
	}
	if p.Instance != "/v1/files" || p.Header.Get("Content-Type") != "" {
		t.Error("Write changed the problem it was given")
	}
}

// TestWriteWithoutRetryAfter: no Retry-After unless asked, and an empty detail is left out.
func TestWriteWithoutRetryAfter(t *testing.T) {
	rec := httptest.NewRecorder()
	problem.Write(rec, httptest.NewRequest(http.MethodGet, "/", nil), problem.New(http.StatusNotFound, "not_found", ""))
	if rec.Code != 404 || rec.Header().Get("Retry-After") != "" {
		t.Fatalf("%d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if _, ok := body["detail"]; ok {
		t.Errorf("empty detail sent: %v", body)
	}
}
