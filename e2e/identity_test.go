package e2e_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"
)

// identityStack is auth and a file node whose auth knows upstream providers at a real
// OpenID provider (zitadel's example OP), with an OAuth client of Coffer's own registered.
type identityStack struct {
	*oauthStack
	OP *zitadelOP
}

func startIdentityStack(t *testing.T, providers func(op *zitadelOP) string, authEnv map[string]string) *identityStack {
	t.Helper()
	addr := freeAddr(t)
	op := startZitadelOP(t, "http://"+addr+"/oauth2/upstream/callback")
	env := map[string]string{"COFFER_AUTH_ADDR": addr, "COFFER_AUTH_ISSUER": "http://" + addr, "COFFER_AUTH_OIDC_PROVIDERS": providers(op)}
	for k, v := range authEnv {
		env[k] = v
	}
	o := &oauthStack{stack: startStack(t, stackOptions{AuthEnv: env}), user: "olivia", password: "olivia-password-long"}
	o.callback = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.lastCallback = r.URL.Query()
		o.mu.Unlock()
		io.WriteString(w, "signed in")
	}))
	t.Cleanup(o.callback.Close)
	o.registerClient("photos", "--public", "--scopes", "files:read files:write", "--redirect-uri", o.callback.URL+"/cb")
	return &identityStack{oauthStack: o, OP: op}
}

// authorizeURL is an authorization request of the "photos" app, through golang.org/x/oauth2.
func (s *identityStack) authorizeURL() (*oauth2.Config, string, string) {
	conf := s.oauthConfig("photos", "", s.callback.URL+"/cb")
	verifier := oauth2.GenerateVerifier()
	return conf, verifier, conf.AuthCodeURL("app-state-1", oauth2.S256ChallengeOption(verifier))
}

// TestIdentityUpstreamSignIn signs a person in through zitadel's example OpenID Provider:
// the sign-in page shows the provider's button; the OP's own login page takes the OP's test
// user; Coffer checks state, nonce, PKCE and the ID token, creates the user (issuer, sub) at
// first sign-in, and issues its own tokens, which the file service accepts. A second sign-in
// finds the same user. A wrong state, nonce or issuer, a replayed callback, a provider whose
// announced issuer differs, a disabled user, and a person outside the allowed email domains
// are all refused; an invitation lets that person in.
func TestIdentityUpstreamSignIn(t *testing.T) {
	s := startIdentityStack(t, func(op *zitadelOP) string {
		return providersJSON(
			providerEntry("zitadel", op.Issuer, `,"allow_signup":true,"email_domains":["zitadel.ch"]`),
			providerEntry("strict", op.Issuer, `,"allow_signup":true,"email_domains":["example.com"]`),
			// The same OP, spelt 127.0.0.1: not the issuer it announces.
			providerEntry("wrongiss", strings.Replace(op.Issuer, "localhost", "127.0.0.1", 1), `,"allow_signup":true`),
		)
	}, nil)
	users := func() int64 { return s.authQueryInt(`SELECT count(*) FROM users`) }
	const opUser, opPassword = "test-user@localhost", "verysecure"

	// signIn runs the whole flow in a fresh browser and returns the callback's answer.
	start := func(b *browser, provider string) string {
		_, _, authURL := s.authorizeURL()
		return upstreamLink(t, authURL, b.get(authURL), provider)
	}

	var userID string
	t.Run("sign in and the file service accepts the token", func(t *testing.T) {
		b := newBrowser(t)
		conf, verifier, authURL := s.authorizeURL()
		page := b.get(authURL)
		cb := b.upstreamToCallback(upstreamLink(t, authURL, page, "zitadel"), opUser, opPassword, nil)
		back := location(t, cb, b.get(cb))
		if !strings.Contains(back, "/oauth2/authorize?") {
			t.Fatalf("after the callback the browser goes to %s, want the authorization request", back)
		}
		q := redirectParams(t, b.get(back), s.callback.URL+"/cb")
		if q.Get("state") != "app-state-1" || q.Get("code") == "" {
			t.Fatalf("redirect to the app: %v", q)
		}
		tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		r := s.client().do("GET", s.Files[0].URL+"/v1/files", nil, bearer(tok.AccessToken))
		if r.Status != http.StatusOK {
			t.Fatalf("file service with the upstream user's token: %d %s", r.Status, r.Body)
		}
		userID = s.authQueryIntText(`SELECT user_id::text FROM user_identities WHERE issuer = $1 AND subject = 'id1'`, s.OP.Issuer)
		if name := s.authQueryIntText(`SELECT username FROM users WHERE id::text = $1`, userID); name != "test-user" {
			t.Errorf("the new user's username is %q, want test-user (from preferred_username)", name)
		}
		if n := s.authQueryInt(`SELECT count(*) FROM users WHERE id::text = $1 AND password_hash = ''`, userID); n != 1 {
			t.Errorf("the upstream user has a password hash")
		}
	})

	t.Run("second sign-in finds the same user", func(t *testing.T) {
		before := users()
		b := newBrowser(t)
		cb := b.upstreamToCallback(start(b, "zitadel"), opUser, opPassword, nil)
		if r := b.get(cb); r.Status != http.StatusSeeOther {
			t.Fatalf("callback: %d\n%s", r.Status, r.Body)
		}
		if users() != before {
			t.Fatal("a second sign-in of the same person created a user")
		}
	})

	refused := func(t *testing.T, b *browser, cb string, want int) {
		t.Helper()
		before := users()
		r := b.get(cb)
		if r.Status != want {
			t.Fatalf("callback %s: %d (want %d), cookies %q\n%s", cb, r.Status, want, r.Header.Values("Set-Cookie"), r.Body)
		}
		for _, c := range r.Header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "coffer_session=") && !strings.Contains(c, "Max-Age=0") {
				t.Fatalf("a refused callback set a session: %s", c)
			}
		}
		if users() != before {
			t.Fatal("a refused callback created a user")
		}
	}

	t.Run("wrong state", func(t *testing.T) {
		b := newBrowser(t)
		cb := b.upstreamToCallback(start(b, "zitadel"), opUser, opPassword, nil)
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Set("state", strings.Repeat("A", 43))
		u.RawQuery = q.Encode()
		refused(t, b, u.String(), http.StatusBadRequest)
		// The real state from another browser (login CSRF): no cookie there.
		refused(t, newBrowser(t), cb, http.StatusBadRequest)
	})

	t.Run("callback replayed", func(t *testing.T) {
		b := newBrowser(t)
		cb := b.upstreamToCallback(start(b, "zitadel"), opUser, opPassword, nil)
		if r := b.get(cb); r.Status != http.StatusSeeOther {
			t.Fatalf("first callback: %d", r.Status)
		}
		refused(t, b, cb, http.StatusBadRequest)
	})

	t.Run("wrong nonce", func(t *testing.T) {
		b := newBrowser(t)
		cb := b.upstreamToCallback(start(b, "zitadel"), opUser, opPassword, func(q url.Values) { q.Set("nonce", "attacker-chosen-nonce") })
		refused(t, b, cb, http.StatusBadRequest)
	})

	t.Run("wrong iss in the callback", func(t *testing.T) {
		b := newBrowser(t)
		cb := b.upstreamToCallback(start(b, "zitadel"), opUser, opPassword, nil)
		refused(t, b, cb+"&iss="+url.QueryEscape("https://evil.example/"), http.StatusBadRequest)
	})

	t.Run("provider announcing another issuer", func(t *testing.T) {
		b := newBrowser(t)
		r := b.get(start(b, "wrongiss"))
		if r.Status != http.StatusBadGateway || r.Header.Get("Location") != "" {
			t.Fatalf("start at a provider whose issuer differs: %d %q", r.Status, r.Header.Get("Location"))
		}
		if n := s.authQueryInt(`SELECT count(*) FROM upstream_logins WHERE provider = 'wrongiss'`); n != 0 {
			t.Fatalf("%d sign-ins stored for the refused provider", n)
		}
	})

	t.Run("outside the allowed email domains then invited", func(t *testing.T) {
		b := newBrowser(t)
		refused(t, b, b.upstreamToCallback(start(b, "strict"), "test-user2", opPassword, nil), http.StatusForbidden)
		out := s.admin("", "invitations", "create", "--username", "ivy")
		token := invitationToken(t, out)
		inv := newBrowser(t)
		page := inv.get(s.Auth.URL + "/oauth2/invitation?token=" + token)
		cb := inv.upstreamToCallback(upstreamLink(t, s.Auth.URL+"/oauth2/invitation", page, "strict"), "test-user2", opPassword, nil)
		if r := inv.get(cb); r.Status != http.StatusSeeOther || !strings.HasSuffix(r.Header.Get("Location"), "/oauth2/account") {
			t.Fatalf("invited upstream sign-in: %d %q\n%s", r.Status, r.Header.Get("Location"), r.Body)
		}
		if got := s.authQueryIntText(`SELECT u.username FROM user_identities i JOIN users u ON u.id = i.user_id WHERE i.subject = 'id2'`); got != "ivy" {
			t.Fatalf("the invited person is user %q, want ivy", got)
		}
		if r := inv.get(s.Auth.URL + "/oauth2/invitation?token=" + token); r.Status != http.StatusNotFound {
			t.Fatalf("used invitation: %d, want 404", r.Status)
		}
	})

	t.Run("disabled user stays out", func(t *testing.T) {
		s.admin("", "users", "disable", "test-user")
		b := newBrowser(t)
		refused(t, b, b.upstreamToCallback(start(b, "zitadel"), opUser, opPassword, nil), http.StatusForbidden)
	})
}

// invitationToken takes the token from `coffer-auth invitations` output.
func invitationToken(t testing.TB, out string) string {
	t.Helper()
	i := strings.Index(out, "token=")
	if i < 0 {
		t.Fatalf("no link in:\n%s", out)
	}
	return strings.TrimSpace(out[i+len("token="):])
}

// authQueryIntText runs a one-value text query on the auth database.
func (o *oauthStack) authQueryIntText(sql string, args ...any) string {
	o.t.Helper()
	var v string
	o.authQueryScan(sql, args, &v)
	return v
}

// authQueryScan runs a one-row query on the auth database into dest.
func (o *oauthStack) authQueryScan(sql string, args []any, dest ...any) {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, o.authDB)
	if err != nil {
		o.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql, args...).Scan(dest...); err != nil {
		o.t.Fatalf("%s: %v", sql, err)
	}
}

// TestIdentityTOTP: a user enrols a TOTP second factor through the account API; /v1/login
// then answers mfa_required without a code, accepts a code the test computes from the
// secret (once: a replay is refused), accepts a recovery code once, and counts wrong codes
// against the same throttle as wrong passwords. Sessions are listed and ended; the password
// is changed.
func TestIdentityTOTP(t *testing.T) {
	s := startStack(t, stackOptions{AuthEnv: map[string]string{"COFFER_AUTH_LOGIN_PAIR_ATTEMPTS": "4"}})
	c := s.client()
	const name, pw = "tess", "tess-password-long"
	if r := c.postJSON(s.Auth.URL+"/v1/users", map[string]string{"username": name, "password": pw}); r.Status != http.StatusCreated {
		t.Fatalf("sign up: %d %s", r.Status, r.Body)
	}
	login := func(password, code string) response {
		return c.postJSON(s.Auth.URL+"/v1/login", map[string]string{"username": name, "password": password, "otp": code})
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	login(pw, "").JSON(t, &tok)

	var setup struct {
		Secret string `json:"secret"`
		URL    string `json:"otpauth_url"`
		QR     string `json:"qr_code"`
	}
	r := c.do("POST", s.Auth.URL+"/v1/account/totp", nil, bearer(tok.AccessToken))
	r.JSON(t, &setup)
	if r.Status != http.StatusOK || !strings.HasPrefix(setup.URL, "otpauth://totp/") || !strings.HasPrefix(setup.QR, "data:image/png;base64,") {
		t.Fatalf("start enrolment: %d %s", r.Status, r.Body)
	}
	now := time.Now()
	var rec struct {
		Codes []string `json:"recovery_codes"`
	}
	r = c.do("POST", s.Auth.URL+"/v1/account/totp/confirm", strings.NewReader(`{"code":"`+totpCode(t, setup.Secret, now)+`"}`),
		map[string]string{"Authorization": "Bearer " + tok.AccessToken, "Content-Type": "application/json"})
	r.JSON(t, &rec)
	if r.Status != http.StatusOK || len(rec.Codes) != 10 {
		t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}

	expect := func(r response, status int, code string) {
		t.Helper()
		if r.Status != status || (code != "" && r.problemCode(t) != code) {
			t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, status, code)
		}
	}
	expect(login(pw, ""), http.StatusUnauthorized, "mfa_required")
	// The enrolment spent the current step's code.
	expect(login(pw, totpCode(t, setup.Secret, now)), http.StatusUnauthorized, "invalid_otp")
	next := totpCode(t, setup.Secret, now.Add(30*time.Second))
	r = login(pw, next)
	expect(r, http.StatusOK, "")
	r.JSON(t, &tok)
	if fr := c.do("GET", s.Files[0].URL+"/v1/files", nil, bearer(tok.AccessToken)); fr.Status != http.StatusOK {
		t.Fatalf("file service with the token from a TOTP sign-in: %d", fr.Status)
	}
	expect(login(pw, next), http.StatusUnauthorized, "invalid_otp") // replayed
	expect(login(pw, rec.Codes[3]), http.StatusOK, "")
	expect(login(pw, rec.Codes[3]), http.StatusUnauthorized, "invalid_otp") // recovery code used

	// Sessions: each login is a refresh family; ending one makes its refresh token fail.
	var list struct {
		Sessions []struct {
			ID, Kind string
		} `json:"sessions"`
	}
	r = c.do("GET", s.Auth.URL+"/v1/account/sessions", nil, bearer(tok.AccessToken))
	r.JSON(t, &list)
	if r.Status != http.StatusOK || len(list.Sessions) < 3 {
		t.Fatalf("sessions: %d %s", r.Status, r.Body)
	}
	fam := s.oauthFamilyOf(tok.RefreshToken)
	if r := c.do("DELETE", s.Auth.URL+"/v1/account/sessions/f-"+fam, nil, bearer(tok.AccessToken)); r.Status != http.StatusNoContent {
		t.Fatalf("end session: %d %s", r.Status, r.Body)
	}
	if r := c.do("DELETE", s.Auth.URL+"/v1/account/sessions/f-"+fam, nil, bearer(tok.AccessToken)); r.Status != http.StatusNotFound {
		t.Fatalf("end an ended session: %d, want 404", r.Status)
	}
	refresh := c.do("POST", s.Auth.URL+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {"coffer"}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if refresh.Status != http.StatusBadRequest {
		t.Fatalf("refresh after its session was ended: %d %s", refresh.Status, refresh.Body)
	}
	// Another user's token cannot end this user's sessions: 404.
	other := c.newUser("ursula", "").Token
	if r := c.do("DELETE", s.Auth.URL+"/v1/account/sessions/f-"+fam, nil, bearer(other)); r.Status != http.StatusNotFound {
		t.Fatalf("another user's session: %d, want 404", r.Status)
	}

	// A service client's token (another client, a subject that is no user) gets nothing.
	secret := s.createClient("backup-job", "files:read")
	cc := c.do("POST", s.Auth.URL+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Basic " + basicAuth("backup-job", secret)})
	var ctok struct {
		AccessToken string `json:"access_token"`
	}
	cc.JSON(t, &ctok)
	if r := c.do("GET", s.Auth.URL+"/v1/account", nil, bearer(ctok.AccessToken)); r.Status != http.StatusForbidden {
		t.Fatalf("account with a service client's token: %d, want 403", r.Status)
	}

	// Throttling shared with passwords: one failure is counted (the reused recovery code);
	// with a wrong password, a wrong code and a wrong password the pair's limit of 4 is met,
	// and the right password with a fresh code is refused with 429.
	expect(login("wrong-password-1", ""), http.StatusUnauthorized, "invalid_credentials")
	expect(login(pw, "000000"), http.StatusUnauthorized, "invalid_otp")
	expect(login("wrong-password-2", ""), http.StatusUnauthorized, "invalid_credentials")
	r = login(pw, totpCode(t, setup.Secret, now.Add(60*time.Second)))
	expect(r, http.StatusTooManyRequests, "too_many_attempts")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

// oauthFamilyOf returns the refresh family id of a refresh token (by its hash).
func (s *stack) oauthFamilyOf(refresh string) string {
	s.t.Helper()
	var fam string
	(&oauthStack{stack: s}).authQueryScan(`SELECT family_id::text FROM refresh_tokens WHERE token_hash = sha256($1::bytea)`, []any{[]byte(refresh)}, &fam)
	return fam
}
