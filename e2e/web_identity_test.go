package e2e_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestWebIdentity drives the identity pages in headless chromium (e2e/browser/identity.mjs):
// a person creates an account from the sign-in page and lands in the web page; sets up a
// TOTP second factor on the account page (QR code shown, code computed from the secret,
// recovery codes shown); signs in again with the password and then the code; and an invitee
// creates an account through an invitation link, which then no longer works. What the pages
// did is checked again in the database.
func TestWebIdentity(t *testing.T) {
	ws := startWebStack(t)
	token := invitationToken(t, ws.admin("", "invitations", "create"))
	artifacts := artifactsDir(t)
	res := runBrowser(t, "identity.mjs", map[string]any{
		"web": ws.Web.URL, "auth": ws.Auth.URL, "artifacts": artifacts,
		"user": "wendy", "pass": "wendy-password-long",
		"invitation": ws.Auth.URL + "/oauth2/invitation?token=" + token, "invitee": "ines", "inviteePass": "ines-password-long",
	})
	t.Logf("browser steps: %s", strings.Join(res.Steps, "; "))
	t.Logf("screenshots: %s, %s", filepath.Join(artifacts, "identity-totp.png"), filepath.Join(artifacts, "identity-account.png"))

	o := &oauthStack{stack: ws.stack}
	if n := o.authQueryInt(`SELECT count(*) FROM user_totp t JOIN users u ON u.id = t.user_id WHERE u.username = 'wendy' AND t.confirmed_at IS NOT NULL`); n != 1 {
		t.Errorf("wendy has %d confirmed TOTP enrolments, want 1", n)
	}
	if n := o.authQueryInt(`SELECT count(*) FROM user_recovery_codes r JOIN users u ON u.id = r.user_id WHERE u.username = 'wendy' AND r.used_at IS NULL`); n != 10 {
		t.Errorf("wendy has %d unused recovery codes, want 10", n)
	}
	if n := o.authQueryInt(`SELECT count(*) FROM invitations i JOIN users u ON u.id = i.used_by WHERE u.username = 'ines'`); n != 1 {
		t.Errorf("the invitation is not recorded as used by ines (%d)", n)
	}
}
