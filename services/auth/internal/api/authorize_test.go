package api_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// TestSignInPage checks the page itself: request values are escaped (a hostile state cannot
// inject markup), the CSP names the stylesheet's hash and no unsafe source, and cookies are
// Secure for a non-loopback issuer.
func TestSignInPage(t *testing.T) {
	f := newFixture(t, auth.Config{})
	if _, _, err := f.svc.RegisterClient(context.Background(), auth.ClientSpec{ID: "app", Public: true, Scopes: []string{"files:read"}, RedirectURIs: []string{"https://app.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	hostile := `"><script>alert(1)</script><input name="x`
	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {"https://app.example/cb"}, "state": {hostile},
		"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
	r := f.do("GET", "/oauth2/authorize?"+q.Encode(), "", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("authorize: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), "<script") || !strings.Contains(string(r.body), "&lt;script&gt;") {
		t.Fatalf("state not escaped:\n%s", r.body)
	}
	csp := r.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "style-src 'sha256-") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "form-action 'self' https://app.example;") {
		t.Fatalf("CSP %q", csp)
	}
	sc := r.header.Get("Set-Cookie")
	// An https issuer: a __Host- cookie (Secure, Path=/, no Domain), which no sibling host
	// and no plain-http page can set or shadow.
	if !strings.HasPrefix(sc, "__Host-coffer_csrf=") || !strings.Contains(sc, "Path=/;") || strings.Contains(sc, "Domain") || !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
		t.Fatalf("CSRF cookie %q", sc)
	}

	// The refusal page for an unknown client names no URL from the request.
	q.Set("client_id", "nobody")
	q.Set("redirect_uri", "https://evil.example/cb")
	r = f.do("GET", "/oauth2/authorize?"+q.Encode(), "", "", nil)
	if r.status != http.StatusBadRequest || r.header.Get("Location") != "" || strings.Contains(string(r.body), "evil.example") {
		t.Fatalf("unknown client: %d %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
}

// TestSignInFormCountsLogins: sign-ins through the authorization endpoint's form are password
// logins like POST /v1/login, and coffer_auth_logins_total counts them by outcome.
func TestSignInFormCountsLogins(t *testing.T) {
	f := newFixture(t, auth.Config{})
	ctx := context.Background()
	if _, _, err := f.svc.RegisterClient(ctx, auth.ClientSpec{ID: "app", Public: true, Scopes: []string{"files:read"}, RedirectURIs: []string{"https://app.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SignUp(ctx, "carol", "carol-password-long"); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {"https://app.example/cb"}, "state": {"s"},
		"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
	page := f.do("GET", "/oauth2/authorize?"+q.Encode(), "", "", nil)
	csrf := csrfFrom(t, page)
	send := func(pw string) reply {
		v := url.Values{"csrf_token": {csrf}, "username": {"carol"}, "password": {pw}}
		for k := range q {
			v.Set(k, q.Get(k))
		}
		return f.form("/oauth2/authorize", v, map[string]string{"Cookie": "__Host-coffer_csrf=" + csrf})
	}
	if r := send("wrong-password-long"); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", r.status)
	}
	if r := send("carol-password-long"); r.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", r.status, r.body)
	}
	for outcome, want := range map[string]float64{"ok": 1, "invalid_credentials": 1} {
		if got := loginCount(t, f, outcome); got != want {
			t.Errorf("coffer_auth_logins_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// TestLogoutNeedsTheForm: a GET to the logout endpoint never ends a session (another site can
// make a browser send one); a POST ends it only with the form's CSRF token.
func TestLogoutNeedsTheForm(t *testing.T) {
	f := newFixture(t, auth.Config{})
	ctx := context.Background()
	u, err := f.svc.SignUp(ctx, "dave", "dave-password-long")
	if err != nil {
		t.Fatal(err)
	}
	session, _, err := f.svc.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	alive := func() bool {
		_, err := f.svc.SessionUser(ctx, session)
		return err == nil
	}
	cookie := "__Host-coffer_session=" + session
	page := f.do("GET", "/oauth2/logout", "", "", map[string]string{"Cookie": cookie})
	if page.status != http.StatusOK || !alive() {
		t.Fatalf("GET: %d, session alive %v; want the confirmation form and the session kept", page.status, alive())
	}
	csrf := csrfFrom(t, page)
	for name, h := range map[string]map[string]string{
		"no token":       {"Cookie": cookie},
		"token, no pair": {"Cookie": cookie + "; __Host-coffer_csrf=" + strings.Repeat("B", 43)},
		"unprefixed":     {"Cookie": cookie + "; coffer_csrf=" + csrf},
	} {
		if r := f.form("/oauth2/logout", url.Values{"csrf_token": {csrf}}, h); r.status != http.StatusForbidden || !alive() {
			t.Fatalf("%s: %d, session alive %v; want 403 and the session kept", name, r.status, alive())
		}
	}
	r := f.form("/oauth2/logout", url.Values{"csrf_token": {csrf}}, map[string]string{"Cookie": cookie + "; __Host-coffer_csrf=" + csrf})
	if r.status != http.StatusOK || alive() {
		t.Fatalf("POST with the form's token: %d, session alive %v", r.status, alive())
	}
}

// csrfFrom returns the CSRF token of a page's form, checking that its cookie carries it.
func csrfFrom(t *testing.T, page reply) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page.body)
	if m == nil {
		t.Fatalf("no CSRF token in:\n%s", page.body)
	}
	if sc := page.header.Get("Set-Cookie"); !strings.Contains(sc, "__Host-coffer_csrf="+string(m[1])) {
		t.Fatalf("CSRF cookie %q does not carry the form's token", sc)
	}
	return string(m[1])
}

// loginCount reads coffer_auth_logins_total for one outcome from the server's registry.
func loginCount(t *testing.T, f *fixture, outcome string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "coffer_auth_logins_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
