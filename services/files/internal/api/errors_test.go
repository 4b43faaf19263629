package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestErrorDetailIsData: what a client reads in a 400's detail comes from an InputError's
// Reason, never from the text that layers wrapped around it; a bare ErrInvalidInput (no
// reason written for the client) gets a generic detail.
func TestErrorDetailIsData(t *testing.T) {
	const secret = "/var/lib/coffer/blobs/ab/cd"
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"reason", files.Invalid("limit must be between 1 and %d", 1000), "invalid input: limit must be between 1 and 1000"},
		{"wrapped reason", fmt.Errorf("disk %s: %w", secret, files.Invalid("bad blob key")), "invalid input: bad blob key"},
		{"cause kept for logs", fmt.Errorf("%w (read tcp %s: reset)", files.Invalid("the request body could not be read"), secret), "invalid input: the request body could not be read"},
		{"bare sentinel", fmt.Errorf("%w: %s", files.ErrInvalidInput, secret), "invalid input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer()
			rec := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(rec)
			c.Request = httptest.NewRequest(http.MethodGet, "/v1/files", nil)
			s.error(c, tc.err)
			var p struct{ Code, Detail string }
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != http.StatusBadRequest || p.Code != codeInvalidRequest || p.Detail != tc.want {
				t.Errorf("got %d %q %q, want 400 %q %q", rec.Code, p.Code, p.Detail, codeInvalidRequest, tc.want)
			}
			if strings.Contains(rec.Body.String(), secret) {
				t.Errorf("the body leaks the wrapped text: %s", rec.Body)
			}
		})
	}
}

type readiness func(context.Context) error

func (r readiness) Ready(ctx context.Context) error { return r(ctx) }

// TestReadyzDetail: /readyz shows a NotReadyError's Reason and nothing of any other error.
func TestReadyzDetail(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"reason", fmt.Errorf("check: %w", &NotReadyError{Reason: "database not migrated yet"}), "database not migrated yet"},
		{"other error", errors.New("dial tcp 10.0.0.7:5432: connection refused"), "not ready"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(discard, nil, nil, readiness(func(context.Context) error { return tc.err }), Options{})
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			var p struct{ Code, Detail string }
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != http.StatusServiceUnavailable || p.Code != "not_ready" || p.Detail != tc.want {
				t.Errorf("got %d %q %q, want 503 not_ready %q", rec.Code, p.Code, p.Detail, tc.want)
			}
			if strings.Contains(rec.Body.String(), "10.0.0.7") {
				t.Errorf("the body leaks the error: %s", rec.Body)
			}
		})
	}
}
