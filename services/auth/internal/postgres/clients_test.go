package postgres_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// A client id is taken once; ClientByID returns the stored client or ErrNotFound.
func TestClientByID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	at := now()
	c := auth.Client{ID: "app", SecretHash: auth.HashSecret("s"), Scopes: []string{"files:read", "files:write"}, CreatedAt: at,
		RedirectURIs: []string{"https://a/cb"}, Origins: []string{"https://a"}, AdminRole: true}
	if err := db.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(ctx, auth.Client{ID: "app", CreatedAt: at}); !errors.Is(err, auth.ErrClientExists) {
		t.Fatalf("duplicate client: err = %v, want ErrClientExists", err)
	}
	if err := db.CreateClient(ctx, auth.Client{ID: "bare", CreatedAt: at}); err != nil {
		t.Fatalf("client without URIs or origins: %v", err)
	}
	got, err := db.ClientByID(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "app" || string(got.SecretHash) != string(c.SecretHash) || !slices.Equal(got.Scopes, c.Scopes) || got.Disabled ||
		!got.CreatedAt.Equal(at) || !slices.Equal(got.RedirectURIs, c.RedirectURIs) || !slices.Equal(got.Origins, c.Origins) || !got.AdminRole {
		t.Fatalf("ClientByID = %+v, want %+v", got, c)
	}
	if bare, err := db.ClientByID(ctx, "bare"); err != nil || !bare.Public() || len(bare.RedirectURIs) != 0 || len(bare.Origins) != 0 {
		t.Fatalf("ClientByID(bare) = %+v, %v", bare, err)
	}
	for _, id := range []string{"APP", "ap", ""} {
		if _, err := db.ClientByID(ctx, id); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("ClientByID(%q): err = %v, want ErrNotFound", id, err)
		}
	}
}
