package api_test

import (
	"context"
	"net/http"
	"net/url"
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
	if !strings.HasPrefix(sc, "coffer_csrf=") || !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
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
