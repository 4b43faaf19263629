package e2e_test

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// webAdminResult is what e2e/browser/admin.mjs reports beyond the common fields.
type webAdminResult struct {
	Invitation  string `json:"invitation"`
	Revoked     string `json:"revoked"`
	Secret      string `json:"secret"`
	AccountHref string `json:"accountHref"`
	Deleted     string `json:"deleted"`
}

// TestWebAdmin drives the page's admin section in headless chromium (e2e/browser/admin.mjs):
// an admin signs in on the page and creates an invitation; a fresh browser context accepts it,
// signs up and in on the page and uploads a file; the admin disables that user, whose page is
// signed out as soon as it renews (the refresh token is refused at once), sets their quota,
// rotates a client's secret, revokes a second invitation and deletes the user with their
// files; a non-admin's user menu offers the account page but no admin section. Then the API: the non-admin
// gets 403 from both services' admin routes, the rotated secret works and the old one does
// not, the revoked link is dead, and both audit logs hold the admin's actions.
func TestWebAdmin(t *testing.T) {
	ws := startWebStack(t)
	c := ws.client()
	ws.admin("root-password-long\n", "users", "create", "root")
	ws.admin("", "users", "grant-admin", "root")
	oldSecret := ws.createClient("svc-robot", "files:read")
	nina := c.newUser("nina", "")

	artifacts := artifactsDir(t)
	cfg := map[string]any{
		"web": ws.Web.URL, "auth": ws.Auth.URL, "artifacts": artifacts,
		"admin": "root", "adminPass": "root-password-long",
		"invitee": "ivan", "inviteePass": "ivan-password-long",
		"plain": "nina", "plainPass": "pw-nina-long-enough",
		"client": "svc-robot",
	}
	res := runBrowser(t, "admin.mjs", cfg)
	t.Logf("browser steps: %s; screenshot %s", strings.Join(res.Steps, "; "), filepath.Join(artifacts, "admin.png"))
	var out webAdminResult
	if err := json.Unmarshal(res.Extra, &out); err != nil {
		t.Fatalf("admin.mjs result: %v (%s)", err, res.Extra)
	}

	if out.AccountHref != ws.Auth.URL+"/oauth2/account" {
		t.Errorf("the user menu's account entry led to %q, want the account page", out.AccountHref)
	}
	// A non-admin is refused by both services' admin routes, whatever a page shows. (Access
	// tokens live 5 s in this stack: fresh ones.)
	nina.Token = c.loginScope("nina", "pw-nina-long-enough", "")
	for _, u := range []string{ws.Auth.URL + "/v1/admin/users", ws.Auth.URL + "/v1/admin/invitations", ws.Files[0].URL + "/v1/admin/users/" + nina.ID + "/quota"} {
		expectProblem(t, "non-admin GET "+u, c.do("GET", u, nil, bearer(nina.Token)), 403, "admin_required")
	}
	expectProblem(t, "non-admin delete of files", c.do("DELETE", ws.Files[0].URL+"/v1/admin/users/"+nina.ID+"/files", nil, bearer(nina.Token)), 403, "admin_required")

	// The secret shown once on the page works; the one before it no longer does.
	token := func(secret string) int {
		return c.postForm(ws.Auth.URL+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc-robot"}, "client_secret": {secret}}, nil).Status
	}
	if out.Secret == "" || out.Secret == oldSecret {
		t.Fatalf("rotated secret %q (old %q)", out.Secret, oldSecret)
	}
	if got := token(out.Secret); got != 200 {
		t.Errorf("token with the rotated secret: %d, want 200", got)
	}
	if got := token(oldSecret); got != 401 {
		t.Errorf("token with the old secret: %d, want 401", got)
	}
	// The used invitation and the revoked one are both dead links.
	for _, link := range []string{out.Invitation, out.Revoked} {
		if !strings.HasPrefix(link, ws.Auth.URL+"/oauth2/invitation?token=") {
			t.Fatalf("invitation link %q", link)
		}
		if r := c.do("GET", link, nil, nil); r.Status != 404 {
			t.Errorf("GET %s: %d, want 404", link, r.Status)
		}
	}

	// What the page did, as the services recorded it.
	o := &oauthStack{stack: ws.stack}
	if n := o.authQueryInt(`SELECT count(*) FROM users WHERE username = 'ivan'`); n != 0 {
		t.Errorf("ivan still has %d user rows", n)
	}
	if n := ws.queryInt(`SELECT count(*) FROM files f WHERE f.name = 'ivan.txt'`); n != 0 {
		t.Errorf("ivan's file still has %d rows", n)
	}
	actions := func(base string) map[string]int {
		root := c.loginScope("root", "root-password-long", "files:read")
		r := c.do("GET", base+"/v1/admin/audit?limit=1000", nil, bearer(root))
		var body struct{ Records []auditRecord }
		if r.Status != 200 || json.Unmarshal(r.Body, &body) != nil {
			t.Fatalf("audit %s: %d %s", base, r.Status, r.Body)
		}
		m := map[string]int{}
		for _, rec := range body.Records {
			m[rec.Action]++
		}
		return m
	}
	authLog := actions(ws.Auth.URL)
	for _, a := range []string{"admin.invitation.create", "admin.invitation.revoke", "admin.user.disable", "admin.user.delete", "admin.client.rotate_secret"} {
		if authLog[a] == 0 {
			t.Errorf("the auth audit has no %s (all: %v)", a, authLog)
		}
	}
	waitFor(t, 10*time.Second, "the admin's file-service actions in its audit", func() bool {
		m := actions(ws.Files[0].URL)
		return m["admin.quota.set"] == 1 && m["admin.user_files.delete"] == 1 && m["file.upload"] >= 1
	})
}
