package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/pkg/auditlog/auditpg"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// TestAdminInvitations: an admin creates an invitation (the link is in the answer, only
// there) and a password reset (the user's password stops working and their refresh token
// dies at once); both are listed without links and audited naming the admin.
func TestAdminInvitations(t *testing.T) {
	f, admin, user := adminFixture(t)
	bearer := map[string]string{"Authorization": "Bearer " + admin.AccessToken}
	r := f.do("POST", "/v1/admin/invitations", "application/json", `{"username":"nina","ttl":"48h"}`, bearer)
	var inv struct {
		ID, Kind, Username, URL string
	}
	if err := json.Unmarshal(r.body, &inv); r.status != 201 || err != nil || inv.Kind != "invite" || inv.Username != "nina" ||
		!strings.HasPrefix(inv.URL, "https://auth.test/oauth2/invitation?token=") {
		t.Fatalf("create invitation: %d %s", r.status, r.body)
	}
	if r := f.do("POST", "/v1/admin/invitations", "application/json", `{"username":"bob"}`, bearer); r.status != 409 {
		t.Fatalf("invitation for a taken username: %d %s, want 409", r.status, r.body)
	}
	if r := f.do("POST", "/v1/admin/invitations", "application/json", `{"kind":"other"}`, bearer); r.status != 400 {
		t.Fatalf("unknown kind: %d %s, want 400", r.status, r.body)
	}
	r = f.do("POST", "/v1/admin/invitations", "application/json", `{"kind":"reset","username":"bob"}`, bearer)
	if r.status != 201 || !strings.Contains(string(r.body), `"kind":"reset"`) {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	if r, _ := f.login("bob", "bob-password"); r.status != 401 {
		t.Fatalf("bob's old password after a reset: %d, want 401", r.status)
	}
	if r := f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {user.RefreshToken}}, nil); r.status != 400 {
		t.Fatalf("bob's refresh token after a reset: %d, want 400", r.status)
	}
	r = f.do("GET", "/v1/admin/invitations", "", "", bearer)
	if r.status != 200 || strings.Contains(string(r.body), "token=") || strings.Count(string(r.body), `"id"`) != 2 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	recs, err := f.audit.List(context.Background(), auditpg.Query{Action: "admin."})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rec := range recs {
		if rec.Action == auth.AuditInvitationCreate || rec.Action == auth.AuditPasswordReset {
			got = append(got, rec.Action)
			if rec.Actor != f.claimsOf(admin.AccessToken).Subject {
				t.Errorf("%s by %q, want the admin", rec.Action, rec.Actor)
			}
		}
	}
	if strings.Join(got, " ") != auth.AuditInvitationCreate+" "+auth.AuditPasswordReset {
		t.Fatalf("audited %v", got)
	}
}
