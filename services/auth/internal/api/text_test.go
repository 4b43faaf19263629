package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// TestRefusesTextPostgreSQLCannotStore: NUL characters and invalid UTF-8, in a JSON field, a
// form field, a path or a query, are refused at the edge with a 400 (never a 500 from
// PostgreSQL), and a sign-in with such a username is simply not a sign-in.
func TestRefusesTextPostgreSQLCannotStore(t *testing.T) {
	f := newFixture(t, auth.Config{})
	for _, bad := range []string{"al\x00ice", "\xff", "\xc3\x28"} {
		// JSON carries a NUL as an escape; encoding/json turns raw invalid UTF-8 into U+FFFD,
		// which is valid text, so the JSON cases all send the escape.
		jsonBad := strings.ReplaceAll(bad, "\x00", `\u0000`)
		if jsonBad == bad {
			jsonBad = `x\u0000` + bad
		}
		for name, r := range map[string]reply{
			"login":           f.do("POST", "/v1/login", "application/json", `{"username":"`+jsonBad+`","password":"some-password-long"}`, nil),
			"sign-up":         f.do("POST", "/v1/users", "application/json", `{"username":"`+jsonBad+`","password":"some-password-long"}`, nil),
			"token form":      f.form("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {bad}, "client_secret": {"x"}}, nil),
			"revoke form":     f.form("/oauth2/revoke", url.Values{"token": {bad}, "client_id": {bad}}, nil),
			"authorize query": f.do("GET", "/oauth2/authorize?response_type=code&client_id="+url.QueryEscape(bad), "", "", nil),
			"authorize form":  f.form("/oauth2/authorize", url.Values{"client_id": {bad}, "username": {bad}, "password": {"p"}}, nil),
			"lookup path":     f.do("GET", "/v1/users/"+url.PathEscape(bad), "", "", nil),
			"discovery query": f.do("GET", "/.well-known/openid-configuration?x="+url.QueryEscape(bad), "", "", nil),
		} {
			if r.status != http.StatusBadRequest {
				t.Errorf("%s with %q: %d %s, want 400", name, bad, r.status, r.body)
			}
		}
	}
	// The domain refuses such a username too, whoever calls it: not a sign-in, not an error.
	if _, err := f.svc.Authenticate(t.Context(), "al\x00ice", "some-password-long", "127.0.0.1"); err != auth.ErrInvalidCredentials {
		t.Fatalf("Authenticate with a NUL in the username: %v, want ErrInvalidCredentials", err)
	}
}
