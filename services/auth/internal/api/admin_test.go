package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/auditlog"
	"github.com/cofferhq/coffer/pkg/auditlog/auditpg"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"github.com/cofferhq/coffer/services/auth/internal/keys"
)

// adminFixture is a fixture with an admin (root) and an ordinary user (bob), both signed in.
func adminFixture(t *testing.T) (f *fixture, admin, user auth.TokenResponse) {
	t.Helper()
	f = newFixture(t, auth.Config{})
	ctx := context.Background()
	root := auth.Actor{Kind: auth.ActorCLI, ID: "test"}
	if _, err := f.svc.AdminCreateUser(ctx, root, "root", "root-password", true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateUser(ctx, "bob", "bob-password"); err != nil {
		t.Fatal(err)
	}
	_, admin = f.login("root", "root-password")
	_, user = f.login("bob", "bob-password")
	if admin.AccessToken == "" || user.AccessToken == "" {
		t.Fatal("sign-in failed")
	}
	return f, admin, user
}

// TestAdminRoutesRefuseNonAdmins walks every admin route the router holds: without a token
// 401, with an ordinary user's token 403 admin_required, before any handler runs.
func TestAdminRoutesRefuseNonAdmins(t *testing.T) {
	f, _, user := adminFixture(t)
	routes := f.h.AdminRoutes()
	if len(routes) < 12 {
		t.Fatalf("only %d admin routes found: %v", len(routes), routes)
	}
	for _, rt := range routes {
		path := strings.NewReplacer(":id", "00000000-0000-0000-0000-000000000001").Replace(rt[1])
		t.Run(rt[0]+" "+rt[1], func(t *testing.T) {
			r := f.do(rt[0], path, "application/json", `{}`, nil)
			if r.status != 401 {
				t.Errorf("no token: status %d, want 401; body %s", r.status, r.body)
			}
			r = f.do(rt[0], path, "application/json", `{}`, map[string]string{"Authorization": "Bearer " + user.AccessToken})
			if r.status != 403 || !strings.Contains(string(r.body), `"admin_required"`) {
				t.Errorf("non-admin: status %d, want 403 admin_required; body %s", r.status, r.body)
			}
		})
	}
}

func TestAdminDisableStopsRefreshAtOnce(t *testing.T) {
	f, admin, user := adminFixture(t)
	bearer := map[string]string{"Authorization": "Bearer " + admin.AccessToken}
	if c := f.claimsOf(admin.AccessToken); !c.IsAdmin() {
		t.Fatalf("admin's token carries roles %v, want admin", c.Roles)
	}
	if c := f.claimsOf(user.AccessToken); c.IsAdmin() {
		t.Fatalf("ordinary user's token carries roles %v", c.Roles)
	}
	r := f.do("GET", "/v1/admin/users?search=bo", "", "", bearer)
	var list struct {
		Users []struct {
			ID, Username string
			Disabled     bool
		}
	}
	if err := json.Unmarshal(r.body, &list); r.status != 200 || err != nil || len(list.Users) != 1 || list.Users[0].Username != "bob" {
		t.Fatalf("search users: %d %s", r.status, r.body)
	}
	bob := list.Users[0].ID
	r = f.do("POST", "/v1/admin/users/"+bob+"/disable", "", "", bearer)
	if r.status != 200 || !strings.Contains(string(r.body), `"disabled":true`) {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	r = f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {user.RefreshToken}}, nil)
	if r.status != 400 || oauthErr(t, r) != "invalid_grant" {
		t.Fatalf("refresh after disable: %d %s, want 400 invalid_grant", r.status, r.body)
	}
	if r, _ := f.login("bob", "bob-password"); r.status != 401 {
		t.Fatalf("login after disable: %d %s", r.status, r.body)
	}
	// Enabled again, bob signs in; the old refresh token stays dead.
	if r := f.do("POST", "/v1/admin/users/"+bob+"/enable", "", "", bearer); r.status != 200 {
		t.Fatalf("enable: %d %s", r.status, r.body)
	}
	if r, _ := f.login("bob", "bob-password"); r.status != 200 {
		t.Fatalf("login after enable: %d %s", r.status, r.body)
	}
	if r := f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {user.RefreshToken}}, nil); r.status != 400 {
		t.Fatalf("old refresh token after enable: %d %s", r.status, r.body)
	}
	// Revoking sessions ends both new families; deleting states the files' fate.
	_, again := f.login("bob", "bob-password")
	if r := f.do("DELETE", "/v1/admin/users/"+bob+"/sessions", "", "", bearer); r.status != 200 || !strings.Contains(string(r.body), `"revoked_families":2`) {
		t.Fatalf("revoke sessions: %d %s", r.status, r.body)
	}
	if r := f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {again.RefreshToken}}, nil); r.status != 400 {
		t.Fatalf("refresh after revoke: %d %s", r.status, r.body)
	}
	r = f.do("DELETE", "/v1/admin/users/"+bob, "", "", bearer)
	if r.status != 200 || !strings.Contains(string(r.body), `"files":"kept by the file service`) {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := f.do("GET", "/v1/admin/users/"+bob, "", "", bearer); r.status != 404 {
		t.Fatalf("deleted user: %d %s", r.status, r.body)
	}

	// Every step above is in the audit log, in order, naming the admin.
	want := []string{auth.AuditUserDisable, auth.AuditUserEnable, auth.AuditUserSessions, auth.AuditUserDelete}
	recs, err := f.audit.List(context.Background(), auditpg.Query{Action: "admin.user.", Target: bob})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Action)
		if r.Actor != f.claimsOf(admin.AccessToken).Subject {
			t.Errorf("%s by %q, want the admin", r.Action, r.Actor)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("audited %v, want %v", got, want)
	}
	if n, _, err := f.audit.Verify(context.Background()); err != nil || n == 0 {
		t.Fatalf("verify: %d rows, %v", n, err)
	}
}

func TestAdminClients(t *testing.T) {
	f, admin, _ := adminFixture(t)
	ctx := context.Background()
	bearer := map[string]string{"Authorization": "Bearer " + admin.AccessToken}
	_, secret, err := f.svc.CreateClient(ctx, "svc-a", []string{"files:read"})
	if err != nil {
		t.Fatal(err)
	}
	cc := func(secret string) int {
		return f.form("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc-a"}, "client_secret": {secret}}, nil).status
	}
	if got := cc(secret); got != 200 {
		t.Fatalf("client credentials: %d", got)
	}
	r := f.do("GET", "/v1/admin/clients", "", "", bearer)
	if r.status != 200 || !strings.Contains(string(r.body), `"id":"svc-a"`) || strings.Contains(string(r.body), "secret") {
		t.Fatalf("list clients: %d %s", r.status, r.body)
	}
	r = f.do("POST", "/v1/admin/clients/svc-a/secret", "", "", bearer)
	var rot struct {
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal(r.body, &rot); r.status != 200 || err != nil || rot.Secret == "" {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	if got := cc(secret); got != 401 {
		t.Fatalf("old secret after rotation: %d, want 401", got)
	}
	if got := cc(rot.Secret); got != 200 {
		t.Fatalf("new secret: %d", got)
	}
	if r := f.do("POST", "/v1/admin/clients/svc-a/disable", "", "", bearer); r.status != 200 {
		t.Fatalf("disable client: %d %s", r.status, r.body)
	}
	if got := cc(rot.Secret); got != 401 {
		t.Fatalf("disabled client: %d, want 401", got)
	}
	if r := f.do("DELETE", "/v1/admin/clients/svc-a", "", "", bearer); r.status != 204 {
		t.Fatalf("delete client: %d %s", r.status, r.body)
	}
	if r := f.do("DELETE", "/v1/admin/clients/svc-a", "", "", bearer); r.status != 404 || !strings.Contains(string(r.body), "no such client") {
		t.Fatalf("delete again: %d %s", r.status, r.body)
	}
	// Sign-ins and token issuance are audited too, and the export is JSON lines.
	r = f.do("GET", "/v1/admin/audit?format=jsonl", "", "", bearer)
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	actions := map[string]int{}
	for _, l := range lines {
		var rec auditlog.JSONRecord
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("export line %q: %v", l, err)
		}
		actions[rec.Action]++
	}
	for _, a := range []string{auth.AuditLoginSuccess, auth.AuditTokenIssued, auth.AuditClientRotate, auth.AuditClientDisable, auth.AuditClientDelete} {
		if actions[a] == 0 {
			t.Errorf("no %s record in the export: %v", a, actions)
		}
	}
	f.login("root", "wrong-password")
	r = f.do("GET", "/v1/admin/audit?action=login.failure&limit=5", "", "", bearer)
	if r.status != 200 || !strings.Contains(string(r.body), `"target":"root"`) || !strings.Contains(string(r.body), `"reason":"invalid_credentials"`) {
		t.Fatalf("failed sign-in not audited: %d %s", r.status, r.body)
	}
	if r := f.do("GET", "/v1/admin/audit?since=yesterday", "", "", bearer); r.status != 400 {
		t.Fatalf("bad since: %d %s", r.status, r.body)
	}
}

// claimsOf verifies one of the fixture's access tokens.
func (f *fixture) claimsOf(tok string) *accesstoken.Claims {
	f.t.Helper()
	c, err := keys.NewVerifier(f.km, "https://auth.test", "coffer-files", 0, nil).Verify(context.Background(), tok)
	if err != nil {
		f.t.Fatalf("verify: %v", err)
	}
	return c
}
