package e2e_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAdminCommands drives the admin commands of the real binary: disabling a user and
// changing a password end their sessions; keys rotate publishes a next key that keys list
// and the JWKS show before it signs; a client secret is printed once and works.
func TestAdminCommands(t *testing.T) {
	s := startStack(t, stackOptions{AuthEnv: map[string]string{"COFFER_AUTH_KEY_RELOAD": "500ms", "COFFER_AUTH_LOG_LEVEL": "debug"}})
	c := s.client()
	refresh := func(rt string) response {
		return c.postForm(s.Auth.URL+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, nil)
	}

	s.admin("mallory-password\n", "users", "create", "mallory")
	s.admin("trudy-password\n", "users", "create", "trudy")
	m := c.loginTokens(s.Auth.URL, "mallory", "mallory-password")
	tr := c.loginTokens(s.Auth.URL, "trudy", "trudy-password")

	s.admin("", "users", "disable", "mallory")
	if r := refresh(m.RefreshToken); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"invalid_grant"`) {
		t.Fatalf("refresh of a disabled user: %d %s", r.Status, r.Body)
	}
	if r := c.postJSON(s.Auth.URL+"/v1/login", map[string]string{"username": "mallory", "password": "mallory-password"}); r.Status != http.StatusUnauthorized {
		t.Fatalf("login of a disabled user: %d %s", r.Status, r.Body)
	}
	s.admin("trudy-new-password\n", "users", "passwd", "trudy")
	if r := refresh(tr.RefreshToken); r.Status != http.StatusBadRequest {
		t.Fatalf("refresh after a password change: %d %s", r.Status, r.Body)
	}
	c.loginTokens(s.Auth.URL, "trudy", "trudy-new-password")

	out := s.admin("", "keys", "rotate")
	kid := strings.Fields(strings.TrimPrefix(out, "next key "))[0]
	list := s.admin("", "keys", "list")
	if !hasRow(list, kid, "next") {
		t.Fatalf("keys list does not show %s as next:\n%s", kid, list)
	}
	waitFor(t, 30*time.Second, "the next key in the JWKS", func() bool {
		_, body := fetchJWKS(t, s.Auth.URL+"/.well-known/jwks.json")
		return strings.Contains(string(body), kid)
	})
	// Published, but not signing: the default pre-publication is two JWKS max-ages (10m).
	if got := kidOf(t, c.login("trudy", "trudy-new-password")); got == kid {
		t.Fatal("a freshly rotated key signs before verifiers could have cached it")
	}

	secret := s.createClient("ci-bot", "files:read files:write")
	if strings.Contains(s.admin("", "keys", "list"), secret) {
		t.Fatal("secret printed again")
	}
	r := c.postForm(s.Auth.URL+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"ci-bot"}, "client_secret": {secret}, "scope": {"files:write"}}, nil)
	var tk tokens
	if r.JSON(t, &tk); r.Status != http.StatusOK || tk.Scope != "files:write" || tk.RefreshToken != "" {
		t.Fatalf("client_secret_post: %d %s", r.Status, r.Body)
	}
	// A failed client authentication and a failed login, then: no secret in the logs.
	c.postForm(s.Auth.URL+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"ci-bot"}, "client_secret": {secret + "-wrong"}}, nil)
	c.postJSON(s.Auth.URL+"/v1/login", map[string]string{"username": "trudy", "password": "trudy-wrong-password"})
	logs := s.Auth.Logs()
	for name, secretValue := range map[string]string{
		"password": "trudy-new-password", "wrong password": "trudy-wrong-password", "client secret": secret,
		"refresh token": m.RefreshToken, "access token": tk.AccessToken, "key-encryption key": s.kek,
	} {
		if strings.Contains(logs, secretValue) {
			t.Errorf("auth logs contain the %s", name)
		}
	}
	if !strings.Contains(logs, "/oauth2/token") {
		t.Fatal("auth logs do not show requests: the check above proves nothing")
	}
}

func hasRow(table string, cells ...string) bool {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		ok := len(f) >= len(cells)
		for i, c := range cells {
			ok = ok && f[i] == c
		}
		if ok {
			return true
		}
	}
	return false
}
