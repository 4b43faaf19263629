package auth_test

import (
	"errors"
	"testing"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// TestErrorTexts: the texts of the domain's error types (logged, and for AuthorizeError sent
// to the client's redirect URI) name what went wrong, and each type matches its sentinel only.
func TestErrorTexts(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&auth.AuthorizeError{Code: "invalid_request", Description: "state is required"}, "invalid_request: state is required"},
		{&auth.InputError{Reason: "username too long"}, "invalid input: username too long"},
		{auth.Invalid("%d bytes at most", 64), "invalid input: 64 bytes at most"},
		{&auth.ScopeError{Scope: "users:read"}, "insufficient scope: users:read required"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	scope := error(&auth.ScopeError{Scope: "users:read"})
	if !errors.Is(scope, auth.ErrInsufficientScope) || errors.Is(scope, auth.ErrInvalidInput) {
		t.Errorf("ScopeError matches ErrInsufficientScope %v, ErrInvalidInput %v; want true, false",
			errors.Is(scope, auth.ErrInsufficientScope), errors.Is(scope, auth.ErrInvalidInput))
	}
	if input := auth.Invalid("x"); !errors.Is(input, auth.ErrInvalidInput) || errors.Is(input, auth.ErrInsufficientScope) {
		t.Errorf("InputError matches the wrong sentinels")
	}
}
