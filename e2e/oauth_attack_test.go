package e2e_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestAttackOAuthAuthorize attacks the authorization endpoint and the code grant through
// the real binary. Each attempt is refused with the RFC 6749 / RFC 7636 error, and the
// database shows nothing issued (no code, no refresh token, no session where none is due).
func TestAttackOAuthAuthorize(t *testing.T) {
	o := startOAuthStack(t, map[string]string{"COFFER_AUTH_LOGIN_PAIR_ATTEMPTS": "3"})
	redirect := o.callback.URL + "/callback"
	redirect2 := o.callback.URL + "/other-callback"
	o.registerClient("webapp", "--public", "--scopes", "files:read files:write", "--redirect-uri", redirect+" "+redirect2)
	o.registerClient("intruder", "--public", "--scopes", "files:read files:write", "--redirect-uri", redirect)
	partnerSecret := ""
	for _, line := range strings.Split(o.registerClient("partner", "--scopes", "files:read", "--redirect-uri", redirect), "\n") {
		if v, ok := strings.CutPrefix(line, "client_secret: "); ok {
			partnerSecret = v
		}
	}
	if partnerSecret == "" {
		t.Fatal("no secret printed for a confidential client")
	}
	conf := o.oauthConfig("webapp", "", redirect)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Timeout: 30 * time.Second})

	// A signed-in browser: later codes come from its session without the password.
	b := newBrowser(t)
	signedIn := b.signIn(conf.AuthCodeURL("s0", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), o.user, o.password)
	redirectParams(t, signedIn, redirect+"?")
	newCode := func(cf *oauth2.Config) (code, verifier string) {
		t.Helper()
		verifier = oauth2.GenerateVerifier()
		q := redirectParams(t, b.get(cf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))), cf.RedirectURL+"?")
		return q.Get("code"), verifier
	}
	// refused requires err to be an RFC 6749 section 5.2 error with the code, whose body
	// echoes none of the secrets the request carried.
	refused := func(t *testing.T, err error, code string, secrets ...string) {
		t.Helper()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != code {
			t.Fatalf("got %v, want the error %s", err, code)
		}
		for _, s := range secrets {
			if strings.Contains(string(re.Body), s) {
				t.Fatalf("error body echoes a secret: %s", re.Body)
			}
		}
	}
	// nothingIssued runs f and requires no new refresh token, code or session.
	nothingIssued := func(t *testing.T, f func()) {
		t.Helper()
		rt, codes := o.issued()
		sessions := o.authQueryInt(`SELECT count(*) FROM auth_sessions`)
		f()
		rt2, codes2 := o.issued()
		if rt2 != rt || codes2 != codes || o.authQueryInt(`SELECT count(*) FROM auth_sessions`) != sessions {
			t.Fatalf("issued: refresh tokens %d→%d, codes %d→%d", rt, rt2, codes, codes2)
		}
	}
	// errorRedirect requires a redirect to the client carrying error (and no code).
	errorRedirect := func(t *testing.T, r response, wantErr, wantState string) {
		t.Helper()
		q := redirectParams(t, r, redirect+"?")
		if q.Get("error") != wantErr || q.Get("code") != "" || q.Get("state") != wantState || q.Get("iss") != o.Auth.URL {
			t.Fatalf("error redirect %v, want error=%s state=%q", q, wantErr, wantState)
		}
	}
	// shownNotRedirected requires the refusal page, with no redirect anywhere.
	shownNotRedirected := func(t *testing.T, r response) {
		t.Helper()
		if r.Status != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.Contains(string(r.Body), "not redirected") {
			t.Fatalf("want a 400 page and no redirect, got %d Location %q\n%s", r.Status, r.Header.Get("Location"), r.Body)
		}
	}
	authorizeURL := func(v url.Values) string { return o.Auth.URL + "/oauth2/authorize?" + v.Encode() }
	valid := func() url.Values {
		return url.Values{"response_type": {"code"}, "client_id": {"webapp"}, "redirect_uri": {redirect}, "state": {"xyz"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	}

	t.Run("wrong_verifier", func(t *testing.T) {
		code, _ := newCode(conf)
		nothingIssued(t, func() {
			wrong := oauth2.GenerateVerifier()
			_, err := conf.Exchange(ctx, code, oauth2.VerifierOption(wrong))
			refused(t, err, "invalid_grant", code, wrong)
			_, err = conf.Exchange(ctx, code) // no verifier at all
			refused(t, err, "invalid_grant", code)
		})
	})

	t.Run("reused_code", func(t *testing.T) {
		code, verifier := newCode(conf)
		tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		nothingIssued(t, func() {
			_, err = conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			refused(t, err, "invalid_grant", code, verifier)
		})
		// What the code issued is revoked (RFC 6749 section 10.5).
		sum := sha256.Sum256([]byte(code))
		if n := o.authQueryInt(`SELECT count(*) FROM refresh_tokens r JOIN authorization_codes a ON a.family_id = r.family_id
			WHERE a.code_hash = $1 AND r.revoked_at IS NULL`, sum[:]); n != 0 {
			t.Fatalf("%d refresh tokens of the replayed code still live", n)
		}
		_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		refused(t, err, "invalid_grant")
	})

	t.Run("code_from_another_client", func(t *testing.T) {
		code, verifier := newCode(conf)
		code2, verifier2 := newCode(conf)
		nothingIssued(t, func() {
			// A public client with the same redirect URI, and the right verifier.
			_, err := o.oauthConfig("intruder", "", redirect).Exchange(ctx, code, oauth2.VerifierOption(verifier))
			refused(t, err, "invalid_grant")
			// A confidential client, authenticated.
			_, err = o.oauthConfig("partner", partnerSecret, redirect).Exchange(ctx, code2, oauth2.VerifierOption(verifier2))
			refused(t, err, "invalid_grant")
			// A confidential client needs its secret.
			_, err = o.oauthConfig("partner", "wrong-secret", redirect).Exchange(ctx, code2, oauth2.VerifierOption(verifier2))
			refused(t, err, "invalid_client", "wrong-secret", code2)
		})
	})

	t.Run("mismatched_redirect_URI", func(t *testing.T) {
		code, verifier := newCode(conf)
		nothingIssued(t, func() {
			v := valid()
			v.Set("redirect_uri", o.callback.URL+"/unregistered")
			shownNotRedirected(t, b.get(authorizeURL(v)))
			// A code issued for one registered URI cannot be redeemed naming another.
			_, err := o.oauthConfig("webapp", "", redirect2).Exchange(ctx, code, oauth2.VerifierOption(verifier))
			refused(t, err, "invalid_grant")
		})
	})

	t.Run("plain_challenge", func(t *testing.T) {
		nothingIssued(t, func() {
			verifier := oauth2.GenerateVerifier()
			for name, mutate := range map[string]func(url.Values){
				"plain":            func(v url.Values) { v.Set("code_challenge", verifier); v.Set("code_challenge_method", "plain") },
				"no method":        func(v url.Values) { v.Del("code_challenge_method") },
				"no challenge":     func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") },
				"short challenge":  func(v url.Values) { v.Set("code_challenge", "abc") },
				"unknown method":   func(v url.Values) { v.Set("code_challenge_method", "S512") },
				"method lowercase": func(v url.Values) { v.Set("code_challenge_method", "s256") },
			} {
				v := valid()
				mutate(v)
				t.Log(name)
				errorRedirect(t, b.get(authorizeURL(v)), "invalid_request", "xyz")
			}
		})
	})

	t.Run("missing_state", func(t *testing.T) {
		nothingIssued(t, func() {
			// x/oauth2 leaves state out when it is empty.
			errorRedirect(t, b.get(conf.AuthCodeURL("", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "invalid_request", "")
		})
	})

	t.Run("other_request_errors", func(t *testing.T) {
		nothingIssued(t, func() {
			v := valid()
			v.Set("response_type", "token")
			errorRedirect(t, b.get(authorizeURL(v)), "unsupported_response_type", "xyz")
			v = valid()
			v.Set("scope", "files:share")
			errorRedirect(t, b.get(authorizeURL(v)), "invalid_scope", "xyz")
		})
	})

	t.Run("open_redirect", func(t *testing.T) {
		nothingIssued(t, func() {
			for _, target := range []string{
				"https://evil.example/cb", redirect + "/../evil", redirect + "?next=https://evil.example", redirect + "#x",
				strings.Replace(redirect, "127.0.0.1", "evil.example@127.0.0.1", 1), strings.ToUpper(redirect), redirect + "/",
				"//evil.example/cb", "",
			} {
				v := valid()
				v.Set("redirect_uri", target)
				shownNotRedirected(t, b.get(authorizeURL(v)))
			}
			// An unknown client, with any redirect URI, even a registered one.
			for _, id := range []string{"no-such-client", "", "coffer"} {
				v := valid()
				v.Set("client_id", id)
				v.Set("redirect_uri", "https://evil.example/cb")
				shownNotRedirected(t, b.get(authorizeURL(v)))
			}
			// A form post with a tampered redirect URI is checked again.
			fresh := newBrowser(t)
			action, fields := signInForm(t, o.Auth.URL, fresh.get(authorizeURL(valid())))
			fields.Set("redirect_uri", "https://evil.example/cb")
			fields.Set("username", o.user)
			fields.Set("password", o.password)
			shownNotRedirected(t, fresh.send("POST", action, fields))
			// A repeated parameter is refused on the page.
			shownNotRedirected(t, b.get(authorizeURL(valid())+"&redirect_uri="+url.QueryEscape("https://evil.example/cb")))
		})
	})

	t.Run("form_post_without_CSRF_token", func(t *testing.T) {
		nothingIssued(t, func() {
			fresh := newBrowser(t)
			action, fields := signInForm(t, o.Auth.URL, fresh.get(authorizeURL(valid())))
			fields.Set("username", o.user)
			fields.Set("password", o.password)
			for name, mutate := range map[string]func(url.Values){
				"missing": func(f url.Values) { f.Del("csrf_token") },
				"wrong":   func(f url.Values) { f.Set("csrf_token", strings.Repeat("A", 43)) },
				"empty":   func(f url.Values) { f.Set("csrf_token", "") },
			} {
				f := url.Values{}
				for k, v := range fields {
					f[k] = v
				}
				mutate(f)
				if r := fresh.send("POST", action, f); r.Status != http.StatusForbidden || r.Header.Get("Location") != "" || r.Header.Get("Set-Cookie") != "" {
					t.Fatalf("%s CSRF token: %d %q", name, r.Status, r.Header.Get("Location"))
				}
			}
			// A cross-site post carries the page's token but not this browser's cookie.
			attacker := newBrowser(t)
			if r := attacker.send("POST", action, fields); r.Status != http.StatusForbidden || r.Header.Get("Location") != "" {
				t.Fatalf("token without its cookie: %d %q", r.Status, r.Header.Get("Location"))
			}
		})
	})

	t.Run("throttled_sign-in", func(t *testing.T) {
		o.admin("victim-password-long\n", "users", "create", "victim")
		fresh := newBrowser(t)
		nothingIssued(t, func() {
			for i := range 3 {
				r := fresh.signIn(authorizeURL(valid()), "victim", "guess-"+string(rune('a'+i))+"-wrong-password")
				if r.Status != http.StatusUnauthorized || r.Header.Get("Location") != "" || !strings.Contains(string(r.Body), "Invalid username or password") {
					t.Fatalf("wrong password %d: %d %s", i, r.Status, r.Body)
				}
			}
			// Over the limit: refused before the password is checked, even the right one.
			r := fresh.signIn(authorizeURL(valid()), "victim", "victim-password-long")
			if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || r.Header.Get("Location") != "" {
				t.Fatalf("throttled sign-in: %d %v", r.Status, r.Header)
			}
			// The same throttle guards /v1/login.
			if r := o.client().postJSON(o.Auth.URL+"/v1/login", map[string]string{"username": "victim", "password": "victim-password-long"}); r.Status != http.StatusTooManyRequests {
				t.Fatalf("/v1/login after throttled sign-ins: %d", r.Status)
			}
		})
	})
}
