package api_test

import (
	"context"
	"crypto/rand"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"github.com/cofferhq/coffer/services/auth/internal/secretbox"
)

// browser carries a sign-in page's cookies from answer to request, as a browser does (the
// fixture's https issuer makes them Secure, which a cookie jar would not send over the test's
// plain http).
type browser struct {
	f       *fixture
	cookies map[string]string
}

func (b *browser) send(method, path string, form url.Values) reply {
	b.f.t.Helper()
	var parts []string
	for k, v := range b.cookies {
		parts = append(parts, k+"="+v)
	}
	h := map[string]string{"Cookie": strings.Join(parts, "; ")}
	var r reply
	if form == nil {
		r = b.f.do(method, path, "", "", h)
	} else {
		r = b.f.do(method, path, "application/x-www-form-urlencoded", form.Encode(), h)
	}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		b.cookies[c.Name] = c.Value
	}
	return r
}

var secretRE = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)

// enrolSecret returns the TOTP secret an enrolment page shows.
func enrolSecret(t *testing.T, r reply) string {
	t.Helper()
	m := secretRE.FindSubmatch(r.body)
	if r.status != http.StatusOK || m == nil || !strings.Contains(string(r.body), `name="action" value="enrol"`) {
		t.Fatalf("want the enrolment page, got %d:\n%s", r.status, r.body)
	}
	return string(m[1])
}

func totpNow(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMFARequiredEnrolsAtSignIn: with COFFER_AUTH_MFA_REQUIRED a user without a second factor
// is not locked out: the sign-in form answers with a new TOTP secret; a wrong code or password
// is refused (a new secret is shown), the right code turns the factor on, shows the recovery
// codes and continues the authorization request with a code; from then on the code is asked
// for. The account page's sign-in leads the same way.
func TestMFARequiredEnrolsAtSignIn(t *testing.T) {
	f := newFixture(t, auth.Config{MFARequired: true})
	ctx := context.Background()
	kek := make([]byte, 32)
	rand.Read(kek)
	box, err := secretbox.New(kek, "totp v1")
	if err != nil {
		t.Fatal(err)
	}
	f.svc.UseSealer(box)
	if _, _, err := f.svc.RegisterClient(ctx, auth.ClientSpec{ID: "app", Public: true, Scopes: []string{"files:read"}, RedirectURIs: []string{"https://app.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"vera", "walt"} {
		if _, err := f.svc.SignUp(ctx, name, name+"-password-long"); err != nil {
			t.Fatal(err)
		}
	}
	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {"https://app.example/cb"}, "state": {"s1"},
		"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
	b := &browser{f: f, cookies: map[string]string{}}
	csrf := csrfFrom(t, b.send("GET", "/oauth2/authorize?"+q.Encode(), nil))
	post := func(extra url.Values) reply {
		v := url.Values{"csrf_token": {csrf}}
		for k, vs := range q {
			v[k] = vs
		}
		for k, vs := range extra {
			v[k] = vs
		}
		return b.send("POST", "/oauth2/authorize", v)
	}

	first := enrolSecret(t, post(url.Values{"username": {"vera"}, "password": {"vera-password-long"}}))
	r := post(url.Values{"action": {"enrol"}, "username": {"vera"}, "password": {"vera-password-long"}, "otp": {"000000"}})
	second := enrolSecret(t, r)
	if !strings.Contains(string(r.body), "did not match") || second == first {
		t.Fatalf("a wrong code: want a new secret and a message, got the same secret %v", second == first)
	}
	if r := post(url.Values{"action": {"enrol"}, "username": {"vera"}, "password": {"wrong-password-x"}, "otp": {totpNow(t, second, time.Now())}}); r.status != http.StatusUnauthorized {
		t.Fatalf("enrolment with a wrong password: %d, want 401", r.status)
	}
	r = post(url.Values{"action": {"enrol"}, "username": {"vera"}, "password": {"vera-password-long"}, "otp": {totpNow(t, second, time.Now())}})
	if r.status != http.StatusOK || strings.Count(string(r.body), "<li>") != auth.RecoveryCodeCount {
		t.Fatalf("enrolment: %d\n%s", r.status, r.body)
	}
	m := regexp.MustCompile(`href="(/oauth2/authorize\?[^"]+)">Continue`).FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("no Continue link:\n%s", r.body)
	}
	r = b.send("GET", html.UnescapeString(string(m[1])), nil)
	if loc := r.header.Get("Location"); r.status != http.StatusFound || !strings.HasPrefix(loc, "https://app.example/cb?code=") || !strings.Contains(loc, "state=s1") {
		t.Fatalf("continue: %d %q, want a redirect with a code", r.status, loc)
	}

	// Enrolled: a new browser is asked for the code, not to enrol again.
	b = &browser{f: f, cookies: map[string]string{}}
	csrf = csrfFrom(t, b.send("GET", "/oauth2/authorize?"+q.Encode(), nil))
	if r := post(url.Values{"username": {"vera"}, "password": {"vera-password-long"}}); r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), `id="otp"`) || secretRE.Match(r.body) {
		t.Fatalf("after enrolment: %d, want the code asked for\n%s", r.status, r.body)
	}

	// The account page's sign-in leads to the same enrolment, ending on the recovery codes.
	b = &browser{f: f, cookies: map[string]string{}}
	page := b.send("GET", "/oauth2/account", nil)
	csrf = csrfFrom(t, page)
	secret := enrolSecret(t, b.send("POST", "/oauth2/account/signin", url.Values{"csrf_token": {csrf}, "username": {"walt"}, "password": {"walt-password-long"}}))
	r = b.send("POST", "/oauth2/account/signin", url.Values{"csrf_token": {csrf}, "action": {"enrol"}, "username": {"walt"}, "password": {"walt-password-long"}, "otp": {totpNow(t, secret, time.Now())}})
	if r.status != http.StatusOK || strings.Count(string(r.body), "<li>") != auth.RecoveryCodeCount {
		t.Fatalf("account page enrolment: %d\n%s", r.status, r.body)
	}
	if r := b.send("GET", "/oauth2/account", nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `id="totp-status">On.`) {
		t.Fatalf("account page after enrolment: %d\n%s", r.status, r.body)
	}
}
