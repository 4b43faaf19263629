package postgres_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// The admin role reaches a token only for an enabled admin user through Coffer's own client
// or an enabled client registered with the admin role; the admin operations change exactly
// the row they name and answer ErrNotFound otherwise.
func TestAdminStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	at := now()
	alice := newUser(t, db, "alice")
	bob := newUser(t, db, "bob")
	newUser(t, db, "alicia")
	for _, c := range []auth.Client{
		{ID: "admin-app", Scopes: []string{"files:read"}, CreatedAt: at, AdminRole: true},
		{ID: "app", Scopes: []string{"files:read", "files:write"}, CreatedAt: at, SecretHash: auth.HashSecret("s")},
		{ID: "off-admin", Scopes: []string{"files:read"}, CreatedAt: at, AdminRole: true, Disabled: true},
	} {
		if err := db.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetAdmin(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if err := db.SetAdmin(ctx, "nobody", true); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("SetAdmin(nobody): err = %v, want ErrNotFound", err)
	}
	admin := []string{auth.RoleAdmin}
	for _, tc := range []struct {
		user   uuid.UUID
		client string
		want   []string
	}{
		{alice.ID, auth.FirstPartyClientID, admin},
		{alice.ID, "admin-app", admin},
		{alice.ID, "app", nil},
		{alice.ID, "off-admin", nil},
		{bob.ID, auth.FirstPartyClientID, nil},
		{uuid.New(), auth.FirstPartyClientID, nil},
	} {
		wantName := map[uuid.UUID]string{alice.ID: "alice", bob.ID: "bob"}[tc.user]
		got, err := db.UserClaims(ctx, tc.user, tc.client)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Roles, tc.want) || got.Username != wantName {
			t.Errorf("UserClaims(%v, %s) = %+v, want roles %v, username %q", tc.user, tc.client, got, tc.want, wantName)
		}
		rt := refreshToken(tc.user, uuid.NewString(), at)
		rt.ClientID = tc.client
		if tc.user == alice.ID || tc.user == bob.ID {
			if err := db.CreateRefreshToken(ctx, rt); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := db.RefreshClaims(ctx, rt.Hash); err != nil || !slices.Equal(got.Roles, tc.want) || got.Username != wantName {
			t.Errorf("RefreshClaims(token of %v for %s) = %+v, %v; want roles %v, username %q", tc.user, tc.client, got, err, tc.want, wantName)
		}
	}

	users, err := db.ListUsers(ctx, auth.UserQuery{Search: "ali", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Username != "alice" || !users[0].Admin || users[1].Username != "alicia" || users[1].Admin {
		t.Fatalf("ListUsers(ali) = %+v, want alice (admin), alicia", users)
	}
	if users, err := db.ListUsers(ctx, auth.UserQuery{After: "alice", Limit: 1}); err != nil || len(users) != 1 || users[0].Username != "alicia" {
		t.Fatalf("ListUsers(after alice, 1) = %+v, %v", users, err)
	}
	if u, err := db.AdminUser(ctx, alice.ID); err != nil || u.Username != "alice" || !u.Admin {
		t.Fatalf("AdminUser(alice) = %+v, %v", u, err)
	}

	// Disabling takes the role away; enabling gives it back.
	if err := db.DisableUser(ctx, "alice", at); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.UserClaims(ctx, alice.ID, auth.FirstPartyClientID); got.Roles != nil || got.Username != "alice" {
		t.Errorf("disabled admin's roles = %v", got)
	}
	if err := db.EnableUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.UserClaims(ctx, alice.ID, auth.FirstPartyClientID); !slices.Equal(got.Roles, admin) {
		t.Errorf("re-enabled admin's roles = %v", got)
	}

	// RevokeUserTokens counts families and ends sessions.
	b1 := refreshToken(bob.ID, "b1", at)
	b2 := successorOf(b1, "b2", at)
	for _, x := range []auth.RefreshToken{b1, b2} {
		if err := db.CreateRefreshToken(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	newSession(t, db, bob.ID, "bob-s", at.Add(time.Hour))
	if n, err := db.RevokeUserTokens(ctx, bob.ID, at); err != nil || n != 2 {
		t.Fatalf("RevokeUserTokens(bob) = %d, %v; want 2 families", n, err)
	}
	if n, err := db.RevokeUserTokens(ctx, bob.ID, at); err != nil || n != 0 {
		t.Fatalf("RevokeUserTokens(bob) again = %d, %v; want 0", n, err)
	}
	if _, err := db.SessionUser(ctx, auth.HashSecret("bob-s"), at); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("bob's session after RevokeUserTokens: %v", err)
	}

	// Clients: list, secret, disable (revokes its tokens), delete.
	cs, err := db.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 || cs[0].ID != "admin-app" || !cs[0].AdminRole || cs[1].ID != "app" || !slices.Equal(cs[1].Scopes, []string{"files:read", "files:write"}) || !cs[2].Disabled {
		t.Fatalf("ListClients = %+v", cs)
	}
	appRT := refreshToken(alice.ID, "app-rt", at)
	appRT.ClientID = "app"
	if err := db.CreateRefreshToken(ctx, appRT); err != nil {
		t.Fatal(err)
	}
	if err := db.SetClientSecret(ctx, "admin-app", auth.HashSecret("x"), at); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("SetClientSecret(public client): err = %v, want ErrNotFound", err)
	}
	if err := db.SetClientSecret(ctx, "app", auth.HashSecret("s2"), at); err != nil {
		t.Fatal(err)
	}
	if err := rotate(db, appRT.Hash, at, nil); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Errorf("token after the client's new secret: err = %v, want ErrInvalidGrant", err)
	}
	adminRT := refreshToken(alice.ID, "admin-rt", at)
	adminRT.ClientID = "admin-app"
	if err := db.CreateRefreshToken(ctx, adminRT); err != nil {
		t.Fatal(err)
	}
	if err := db.SetClientDisabled(ctx, "admin-app", false, at); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.RefreshClaims(ctx, adminRT.Hash); !slices.Equal(got.Roles, admin) {
		t.Errorf("re-enabling an enabled client changed its roles: %v", got)
	}
	if err := db.SetClientDisabled(ctx, "off-admin", false, at); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.UserClaims(ctx, alice.ID, "off-admin"); !slices.Equal(got.Roles, admin) {
		t.Errorf("re-enabled admin client's roles = %v", got)
	}
	if err := db.SetClientDisabled(ctx, "admin-app", true, at); err != nil {
		t.Fatal(err)
	}
	if err := rotate(db, adminRT.Hash, at, nil); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Errorf("token of a disabled client: err = %v, want ErrInvalidGrant", err)
	}
	if err := db.SetClientDisabled(ctx, "nope", true, at); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("SetClientDisabled(nope): err = %v", err)
	}
	if err := db.DeleteClient(ctx, "admin-app"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteClient(ctx, "admin-app"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("DeleteClient twice: err = %v", err)
	}
	if got, _ := db.RefreshClaims(ctx, adminRT.Hash); got.Roles != nil {
		t.Errorf("deleted client's token still has roles %v", got)
	}

	if err := db.DeleteUser(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"DeleteUser twice": db.DeleteUser(ctx, bob.ID),
		"EnableUser(bob)":  db.EnableUser(ctx, bob.ID),
		"AdminUser(bob)":   func() error { _, err := db.AdminUser(ctx, bob.ID); return err }(),
		"UserByUsername":   func() error { _, err := db.UserByUsername(ctx, "bob"); return err }(),
	} {
		if !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", name, err)
		}
	}
}
