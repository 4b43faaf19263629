package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestOAuthAuthorizationCodeFlow has golang.org/x/oauth2, an OAuth client that knows nothing
// of Coffer, sign a user in through the real auth binary: the authorization URL with an S256
// challenge, the sign-in page posted with its CSRF token, the redirect back with code and
// state, the code exchange with the verifier; the file service then accepts the access
// token. It also covers the sign-in session (a second code without the password), logout,
// the public client's refresh from a browser origin (CORS), and discovery.
func TestOAuthAuthorizationCodeFlow(t *testing.T) {
	o := startOAuthStack(t, nil)
	redirect := o.callback.URL + "/callback"
	origin := o.callback.URL // the single-page app's own origin
	out := o.registerClient("webapp", "--public", "--scopes", "files:read files:write", "--redirect-uri", redirect, "--origin", origin)
	if !strings.Contains(out, "type: public") || strings.Contains(out, "client_secret") {
		t.Fatalf("clients create --public:\n%s", out)
	}
	conf := o.oauthConfig("webapp", "", redirect)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Timeout: 30 * time.Second})

	verifier := oauth2.GenerateVerifier()
	state := "state-" + oauth2.GenerateVerifier()[:16]
	b := newBrowser(t)
	page := b.get(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	checkSignInPageHeaders(t, page, origin)
	action, fields := signInForm(t, o.Auth.URL, page)
	if fields.Get("csrf_token") == "" || fields.Get("client_id") != "webapp" || fields.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(verifier) {
		t.Fatalf("sign-in form fields %v", fields)
	}
	fields.Set("username", o.user)
	fields.Set("password", o.password)
	r := b.send("POST", action, fields)
	checkCookie(t, r, "coffer_session", "Lax")
	q := redirectParams(t, r, redirect+"?")
	if q.Get("state") != state || q.Get("iss") != o.Auth.URL || q.Get("code") == "" {
		t.Fatalf("redirect query %v (want state %q, iss %q)", q, state, o.Auth.URL)
	}
	// The browser follows to the client's redirect URI, which receives the code.
	if cb := b.get(r.Header.Get("Location")); cb.Status != http.StatusOK {
		t.Fatalf("callback: %d", cb.Status)
	}
	o.mu.Lock()
	got := o.lastCallback.Get("code")
	o.mu.Unlock()
	if got != q.Get("code") {
		t.Fatal("the callback did not receive the code")
	}

	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("x/oauth2 Exchange: %v", err)
	}
	if tok.RefreshToken == "" || tok.Type() != "Bearer" || tok.Extra("scope") != "files:read files:write" {
		t.Fatalf("token %+v scope %v", tok, tok.Extra("scope"))
	}
	set, _ := fetchJWKS(t, o.Auth.URL+"/.well-known/jwks.json")
	claims, err := verifyWithJose(set, tok.AccessToken, o.Auth.URL, "coffer-files")
	if err != nil || claims.ClientID != "webapp" || claims.Scope != "files:read files:write" {
		t.Fatalf("access token claims %+v: %v", claims, err)
	}

	// The file service (its issuer, like auth's, set with a trailing slash) accepts the token.
	c := o.client()
	f := c.upload(tok.AccessToken, "from-oauth.txt", []byte("signed in with x/oauth2"))
	if l, r := c.list(tok.AccessToken, ""); r.Status != http.StatusOK || len(l.Files) != 1 || l.Files[0].ID != f.ID {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}

	// A live sign-in session gives a new code without the password.
	verifier2 := oauth2.GenerateVerifier()
	q2 := redirectParams(t, b.get(conf.AuthCodeURL("second-state", oauth2.S256ChallengeOption(verifier2))), redirect+"?")
	tok2, err := conf.Exchange(ctx, q2.Get("code"), oauth2.VerifierOption(verifier2))
	if err != nil || q2.Get("state") != "second-state" {
		t.Fatalf("second code from the session: %v (%v)", err, q2)
	}

	// The browser app refreshes as a public client (client_id, no secret) from its origin.
	r = c.postForm(o.Auth.URL+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {"webapp"}},
		map[string]string{"Origin": origin})
	var refreshed tokens
	if r.JSON(t, &refreshed); r.Status != http.StatusOK || refreshed.RefreshToken == "" || refreshed.RefreshToken == tok.RefreshToken {
		t.Fatalf("public refresh: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("Access-Control-Allow-Origin") != origin || r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("token CORS headers %v", r.Header)
	}
	// ... and x/oauth2's own refresh (its TokenSource) works too.
	next, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token()
	if err != nil || next.AccessToken == "" || next.RefreshToken == tok2.RefreshToken {
		t.Fatalf("x/oauth2 refresh: %v", err)
	}
	// Another client's id on the refresh is refused.
	o.registerClient("other-app", "--public", "--redirect-uri", redirect)
	r = c.postForm(o.Auth.URL+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken}, "client_id": {"other-app"}}, nil)
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"invalid_grant"`) {
		t.Fatalf("refresh with another client's id: %d %s", r.Status, r.Body)
	}

	checkCORS(t, c, o.Auth.URL, origin)
	checkDiscovery(t, c, o.Auth.URL)

	// Logout: a GET only asks (another site can link to it, but not sign a person out); a
	// post without the form's CSRF token changes nothing; the form ends the session and goes
	// back to a registered URI of the client with its state.
	confirm := b.get(o.Auth.URL + "/oauth2/logout?client_id=webapp&post_logout_redirect_uri=" + url.QueryEscape(redirect) + "&state=bye")
	if confirm.Status != http.StatusOK || confirm.Header.Get("Location") != "" {
		t.Fatalf("logout GET: %d %q", confirm.Status, confirm.Header.Get("Location"))
	}
	if n := o.authQueryInt(`SELECT count(*) FROM auth_sessions`); n != 1 {
		t.Fatalf("%d sessions after a logout GET, want the session kept", n)
	}
	action, logoutFields := signInForm(t, o.Auth.URL, confirm)
	forged := url.Values{"client_id": {"webapp"}, "post_logout_redirect_uri": {redirect}}
	if r := b.send("POST", action, forged); r.Status != http.StatusForbidden {
		t.Fatalf("logout POST without a CSRF token: %d, want 403", r.Status)
	}
	forged.Set("csrf_token", strings.Repeat("A", 43))
	if r := b.send("POST", action, forged); r.Status != http.StatusForbidden {
		t.Fatalf("logout POST with a wrong CSRF token: %d, want 403", r.Status)
	}
	if n := o.authQueryInt(`SELECT count(*) FROM auth_sessions`); n != 1 {
		t.Fatalf("%d sessions after forged logouts, want the session kept", n)
	}
	if r := b.send("POST", action, logoutFields); r.Status != http.StatusSeeOther || r.Header.Get("Location") != redirect+"?state=bye" {
		t.Fatalf("logout POST: %d %q", r.Status, r.Header.Get("Location"))
	}
	if n := o.authQueryInt(`SELECT count(*) FROM auth_sessions`); n != 0 {
		t.Fatalf("%d sessions after logout", n)
	}
	if r := b.get(conf.AuthCodeURL("third-state", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); r.Status != http.StatusOK || !formAction.Match(r.Body) {
		t.Fatalf("authorize after logout: %d, want the sign-in form", r.Status)
	}
	// Signed out already: straight back to a registered URI of the client, and never elsewhere.
	if r := b.get(o.Auth.URL + "/oauth2/logout?client_id=webapp&post_logout_redirect_uri=" + url.QueryEscape(redirect) + "&state=bye"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != redirect+"?state=bye" {
		t.Fatalf("logout with a registered redirect: %d %q", r.Status, r.Header.Get("Location"))
	}
	if r := b.get(o.Auth.URL + "/oauth2/logout?client_id=webapp&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/")); r.Status != http.StatusOK || r.Header.Get("Location") != "" {
		t.Fatalf("logout with an unregistered redirect: %d %q", r.Status, r.Header.Get("Location"))
	}

	logs := o.Auth.Logs()
	for name, secret := range map[string]string{"password": o.password, "code": q.Get("code"), "verifier": verifier, "refresh token": tok.RefreshToken, "csrf token": fields.Get("csrf_token")} {
		if strings.Contains(logs, secret) {
			t.Errorf("auth logs contain the %s", name)
		}
	}
}

// checkSignInPageHeaders requires a page that loads nothing from elsewhere and runs no
// script: a CSP without unsafe-inline, allowing the form to post here and to the client.
func checkSignInPageHeaders(t *testing.T, page response, clientOrigin string) {
	t.Helper()
	csp := page.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'sha256-", "frame-ancestors 'none'", "form-action 'self' " + clientOrigin} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q allows unsafe sources", csp)
	}
	if page.Header.Get("X-Frame-Options") != "DENY" || page.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
		t.Errorf("page headers %v", page.Header)
	}
	body := strings.ToLower(string(page.Body))
	for _, bad := range []string{"<script", "<link", " src=", "style=\"", "url("} {
		if strings.Contains(body, bad) {
			t.Errorf("sign-in page contains %q", bad)
		}
	}
	checkCookie(t, page, "coffer_csrf", "Strict")
}

// checkCookie requires r to set an HttpOnly cookie name with the SameSite mode, not Secure
// (the issuer is loopback http).
func checkCookie(t *testing.T, r response, name, sameSite string) {
	t.Helper()
	for _, sc := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, name+"=") {
			if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite="+sameSite) || strings.Contains(sc, "Secure") {
				t.Errorf("cookie %s", sc)
			}
			return
		}
	}
	t.Errorf("no %s cookie set; headers %v", name, r.Header)
}

// checkCORS covers the token, revocation, JWKS and discovery endpoints: the exact registered
// origin (never *, never with credentials), preflights answered, other origins get nothing.
func checkCORS(t *testing.T, c *client, base, origin string) {
	t.Helper()
	for _, path := range []string{"/oauth2/token", "/oauth2/revoke", "/.well-known/jwks.json", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		r := c.do("OPTIONS", base+path, nil, map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
		if r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != origin || r.Header.Get("Access-Control-Allow-Methods") == "" {
			t.Errorf("preflight %s: %d %v", path, r.Status, r.Header)
		}
		r = c.do("OPTIONS", base+path, nil, map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
		if r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight %s from an unregistered origin allowed: %v", path, r.Header)
		}
		if strings.HasPrefix(path, "/.well-known/") {
			r = c.do("GET", base+path, nil, map[string]string{"Origin": origin})
			if r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(r.Header.Get("Vary"), "Origin") {
				t.Errorf("GET %s with Origin: %d %v", path, r.Status, r.Header)
			}
		}
		if r.Header.Get("Access-Control-Allow-Credentials") != "" || r.Header.Get("Access-Control-Allow-Origin") == "*" {
			t.Errorf("%s: CORS with credentials or *: %v", path, r.Header)
		}
	}
}

// checkDiscovery requires both documents to tell what the service does.
func checkDiscovery(t *testing.T, c *client, base string) {
	t.Helper()
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		r := c.do("GET", base+path, nil, nil)
		var doc map[string]any
		if err := json.Unmarshal(r.Body, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc["issuer"] != base || doc["authorization_endpoint"] != base+"/oauth2/authorize" || doc["token_endpoint"] != base+"/oauth2/token" {
			t.Errorf("%s endpoints: %v", path, doc)
		}
		if b, _ := json.Marshal([]any{doc["response_types_supported"], doc["code_challenge_methods_supported"]}); string(b) != `[["code"],["S256"]]` {
			t.Errorf("%s response types and PKCE methods: %s", path, b)
		}
		for k := range doc {
			if strings.Contains(k, "id_token") {
				t.Errorf("%s advertises %s", path, k)
			}
		}
	}
}
