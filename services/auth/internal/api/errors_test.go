package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// TestProblemDetailIsData: what a client reads comes from a typed error's fields, never from
// the text that layers wrapped around the error.
func TestProblemDetailIsData(t *testing.T) {
	const secret = "pq: relation users"
	for _, tc := range []struct {
		name       string
		err        error
		code, want string
	}{
		{"input reason", fmt.Errorf("%s: %w", secret, auth.Invalid("password shorter than %d bytes", 8)), "invalid_request", "invalid input: password shorter than 8 bytes"},
		{"bare input sentinel", fmt.Errorf("%w: %s", auth.ErrInvalidInput, secret), "invalid_request", "invalid input"},
		{"scope", fmt.Errorf("%s: %w", secret, &auth.InvalidScopeError{Scope: "admin"}), "invalid_scope", `invalid scope: "admin" is not allowed`},
		{"bare scope sentinel", fmt.Errorf("%w: %s", auth.ErrInvalidScope, secret), "invalid_scope", "a requested scope is not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(slog.New(slog.DiscardHandler), Config{}, nil, nil, nil, nil, func() bool { return true })
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = httptest.NewRequest(http.MethodPost, "/v1/token", nil)
			p := s.toProblem(c, tc.err)
			if p.Status != http.StatusBadRequest || p.Code != tc.code || p.Detail != tc.want {
				t.Errorf("got %d %q %q, want 400 %q %q", p.Status, p.Code, p.Detail, tc.code, tc.want)
			}
			if strings.Contains(p.Detail, secret) {
				t.Errorf("detail leaks the wrapped text: %q", p.Detail)
			}
		})
	}
}
