package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// TestLookupUser: names are matched case-insensitively; unknown, malformed, over-long and
// disabled names are all ErrNotFound, so the lookup tells nothing more than "no such user".
func TestLookupUser(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.service(auth.Config{}, cheap)
	bob, err := svc.CreateUser(ctx, "Bob", "bob-password-long")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, "eve", "eve-password-long"); err != nil {
		t.Fatal(err)
	}
	if err := svc.DisableUser(ctx, "EVE"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, username string
		wantErr        error
	}{
		{"lower case", "bob", nil},
		{"upper case", "BOB", nil},
		{"unknown", "nobody", auth.ErrNotFound},
		{"disabled", "eve", auth.ErrNotFound},
		{"malformed", "b b", auth.ErrNotFound},
		{"empty", "", auth.ErrNotFound},
		{"over-long", strings.Repeat("b", 65), auth.ErrNotFound},
		{"SQL", "bob' OR '1'='1", auth.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := svc.LookupUser(ctx, tc.username)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && (u.ID != bob.ID || u.Username != "bob") {
				t.Fatalf("got %s %q, want %s \"bob\"", u.ID, u.Username, bob.ID)
			}
		})
	}
}
