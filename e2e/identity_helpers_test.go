package e2e_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cofferhq/coffer/e2e/harness"
)

// ZitadelOPModule is the example OpenID Provider of github.com/zitadel/oidc (an
// OpenID-certified library) that the identity tests sign people in through; the Makefile's
// tools target installs the same.
const ZitadelOPModule = "github.com/zitadel/oidc/v3/example/server@v3.53.0"

// zitadelOPBinary returns the example OP's binary in the git-ignored .cache/zitadel-op,
// building it there if missing (GOWORK=off: it is not part of this workspace).
func zitadelOPBinary(t testing.TB) string {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ".cache", "zitadel-op")
	bin := filepath.Join(dir, "server")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", ZitadelOPModule)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s (needed by the identity tests): %v\n%s", ZitadelOPModule, err, out)
	}
	return bin
}

// zitadelOP is a running example OP. Its issuer is http://localhost:PORT/ (it says so
// itself); its test users are test-user@localhost (sub id1, email test-user@zitadel.ch) and
// test-user2 (sub id2, email test-user2@zitadel.ch), password verysecure; its confidential
// client is "web" with secret "secret" and the redirect URIs given here.
type zitadelOP struct {
	*harness.Process
	Issuer string
}

func startZitadelOP(t testing.TB, redirectURIs ...string) *zitadelOP {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	p, err := harness.Start(harness.Spec{Name: "zitadel-op", Bin: zitadelOPBinary(t), Addr: addr,
		Env: []string{"PORT=" + port, "REDIRECT_URI=" + strings.Join(redirectURIs, ",")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx, "/.well-known/openid-configuration"); err != nil {
		t.Fatal(err)
	}
	return &zitadelOP{Process: p, Issuer: "http://localhost:" + port + "/"}
}

var (
	opFormID        = regexp.MustCompile(`name="id" value="([^"]*)"`)
	upstreamPattern = regexp.MustCompile(`href="([^"]*/oauth2/upstream/start/[^"]+)"`)
)

// upstreamLink finds the sign-in page's button for provider.
func upstreamLink(t testing.TB, pageURL string, page response, provider string) string {
	t.Helper()
	for _, m := range upstreamPattern.FindAllSubmatch(page.Body, -1) {
		link := html.UnescapeString(string(m[1]))
		if strings.Contains(link, "/oauth2/upstream/start/"+provider) {
			base, _ := url.Parse(pageURL)
			u, err := base.Parse(link)
			if err != nil {
				t.Fatal(err)
			}
			return u.String()
		}
	}
	t.Fatalf("no %s button on the page:\n%s", provider, page.Body)
	return ""
}

// location resolves a redirect's Location against the request URL.
func location(t testing.TB, from string, r response) string {
	t.Helper()
	if r.Status < 300 || r.Status > 399 {
		t.Fatalf("want a redirect from %s, got %d\n%s", from, r.Status, r.Body)
	}
	base, _ := url.Parse(from)
	u, err := base.Parse(r.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u.String()
}

// upstreamToCallback follows a Coffer upstream button to the OP, signs in there as user,
// and returns the callback URL the OP sends the browser back to (not yet followed).
// tamper, when set, may change the OP's authorization URL first (an attacker's nonce).
func (b *browser) upstreamToCallback(start, user, pw string, tamper func(url.Values)) string {
	b.t.Helper()
	opURL := location(b.t, start, b.get(start))
	if tamper != nil {
		u, _ := url.Parse(opURL)
		q := u.Query()
		tamper(q)
		u.RawQuery = q.Encode()
		opURL = u.String()
	}
	loginURL := location(b.t, opURL, b.get(opURL))
	page := b.get(loginURL)
	m := opFormID.FindSubmatch(page.Body)
	if page.Status != http.StatusOK || m == nil {
		b.t.Fatalf("OP login page %s: %d\n%s", loginURL, page.Status, page.Body)
	}
	post, _ := url.Parse(loginURL)
	post, _ = post.Parse("/login/username")
	r := b.send("POST", post.String(), url.Values{"id": {html.UnescapeString(string(m[1]))}, "username": {user}, "password": {pw}})
	next := location(b.t, post.String(), r)
	// The OP's own callback redirects on to Coffer's.
	for i := 0; i < 5 && !strings.Contains(next, "/oauth2/upstream/callback"); i++ {
		next = location(b.t, next, b.get(next))
	}
	if !strings.Contains(next, "/oauth2/upstream/callback") {
		b.t.Fatalf("the OP did not send the browser back to Coffer: %s", next)
	}
	return next
}

// totpCode computes the TOTP code of secret at t, as an authenticator app would.
func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// providersJSON is COFFER_AUTH_OIDC_PROVIDERS for providers at the OP.
func providersJSON(entries ...string) string { return "[" + strings.Join(entries, ",") + "]" }

func providerEntry(name, issuer, extra string) string {
	return fmt.Sprintf(`{"name":%q,"display_name":%q,"issuer":%q,"client_id":"web","client_secret":"secret"%s}`, name, strings.ToUpper(name[:1])+name[1:], issuer, extra)
}
