package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// TestMe: GET /v1/me answers the token's own user (id, username, admin role) to any valid
// token with files:read; a token without files:read, a
// disabled user's token and no token are refused.
func TestMe(t *testing.T) {
	f := newFixture(t, auth.Config{})
	ctx := context.Background()
	bob, err := f.svc.CreateUser(ctx, "bob", "bob-password-long")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AdminCreateUser(ctx, auth.Actor{Kind: auth.ActorCLI, ID: "test"}, "root", "root-password-long", true); err != nil {
		t.Fatal(err)
	}
	login := func(user, pw, scope string) string {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"username": user, "password": pw, "scope": scope})
		r := f.do("POST", "/v1/login", "application/json", string(b), nil)
		var tok auth.TokenResponse
		if err := json.Unmarshal(r.body, &tok); r.status != 200 || err != nil {
			t.Fatalf("login %s: %d %s", user, r.status, r.body)
		}
		return tok.AccessToken
	}
	type me struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Admin    bool   `json:"admin"`
	}
	get := func(token string) (int, me) {
		t.Helper()
		h := map[string]string{}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		r := f.do("GET", "/v1/me", "", "", h)
		var m me
		if r.status == http.StatusOK {
			if err := json.Unmarshal(r.body, &m); err != nil {
				t.Fatalf("me: %s", r.body)
			}
		}
		return r.status, m
	}

	bobTok := login("bob", "bob-password-long", "files:read")
	if st, m := get(bobTok); st != http.StatusOK || m != (me{ID: bob.ID.String(), Username: "bob"}) {
		t.Errorf("bob: %d %+v", st, m)
	}
	if st, m := get(login("root", "root-password-long", "files:read")); st != http.StatusOK || m.Username != "root" || !m.Admin {
		t.Errorf("root: %d %+v, want admin", st, m)
	}
	if st, _ := get(login("bob", "bob-password-long", "files:write")); st != http.StatusForbidden {
		t.Errorf("without files:read: %d, want 403", st)
	}
	if st, _ := get(""); st != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", st)
	}
	if err := f.svc.DisableUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if st, _ := get(bobTok); st != http.StatusUnauthorized {
		t.Errorf("disabled user: %d, want 401", st)
	}
}
