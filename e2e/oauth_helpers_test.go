package e2e_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"
)

// oauthStack is a stack whose issuer is configured with a trailing slash on both auth and the
// file node (both must normalise it alike, or no token verifies), a user, and a callback
// server standing in for an OAuth client's redirect URI.
type oauthStack struct {
	*stack
	user, password string
	callback       *httptest.Server
	mu             sync.Mutex
	lastCallback   url.Values
}

func startOAuthStack(t *testing.T, authEnv map[string]string) *oauthStack {
	t.Helper()
	addr := freeAddr(t)
	env := map[string]string{"COFFER_AUTH_ADDR": addr, "COFFER_AUTH_ISSUER": "http://" + addr + "/"}
	for k, v := range authEnv {
		env[k] = v
	}
	files := map[string]string{"COFFER_FILES_ISSUER": "http://" + addr + "/"}
	o := &oauthStack{stack: startStack(t, stackOptions{AuthEnv: env, FilesEnv: files}), user: "olivia", password: "olivia-password-long"}
	o.admin(o.password+"\n", "users", "create", o.user)
	o.callback = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.lastCallback = r.URL.Query()
		o.mu.Unlock()
		io.WriteString(w, "signed in")
	}))
	t.Cleanup(o.callback.Close)
	return o
}

// registerClient runs `coffer-auth clients create` and returns its output.
func (o *oauthStack) registerClient(args ...string) string {
	o.t.Helper()
	return o.admin("", append([]string{"clients", "create"}, args...)...)
}

// oauthConfig is what an independent OAuth client library is given: the endpoints from the
// discovery document's paths, a client id and a redirect URL.
func (o *oauthStack) oauthConfig(clientID, secret, redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: clientID, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"files:read", "files:write"},
		Endpoint: oauth2.Endpoint{AuthURL: o.Auth.URL + "/oauth2/authorize", TokenURL: o.Auth.URL + "/oauth2/token"},
	}
}

// authQueryInt runs a one-number query on the auth service's database.
func (o *oauthStack) authQueryInt(sql string, args ...any) int64 {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, o.authDB)
	if err != nil {
		o.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		o.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// issued counts what the auth service has handed out: refresh tokens and codes.
func (o *oauthStack) issued() (refresh, codes int64) {
	return o.authQueryInt(`SELECT count(*) FROM refresh_tokens`), o.authQueryInt(`SELECT count(*) FROM authorization_codes`)
}

// browser is a user agent: a cookie jar, and redirects reported rather than followed.
type browser struct {
	t    testing.TB
	http *http.Client
}

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(u string) response {
	b.t.Helper()
	return b.send("GET", u, nil)
}

func (b *browser) send(method, u string, form url.Values) response {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

var (
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
)

// signInForm parses the sign-in page: the form's action (resolved against the page's URL,
// as a browser does) and its hidden fields.
func signInForm(t testing.TB, pageURL string, page response) (string, url.Values) {
	t.Helper()
	if page.Status != http.StatusOK && page.Status != http.StatusUnauthorized {
		t.Fatalf("sign-in page: %d %s", page.Status, page.Body)
	}
	m := formAction.FindSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no sign-in form in:\n%s", page.Body)
	}
	fields := url.Values{}
	for _, h := range hiddenInput.FindAllSubmatch(page.Body, -1) {
		fields.Set(html.UnescapeString(string(h[1])), html.UnescapeString(string(h[2])))
	}
	base, err := url.Parse(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	action, err := base.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		t.Fatalf("form action %q: %v", m[1], err)
	}
	return action.String(), fields
}

// signIn loads the authorize URL, posts the form with the password and returns the answer
// to the post (a redirect to the client, on success).
func (b *browser) signIn(authURL, user, pw string) response {
	b.t.Helper()
	action, fields := signInForm(b.t, authURL, b.get(authURL))
	fields.Set("username", user)
	fields.Set("password", pw)
	return b.send("POST", action, fields)
}

// redirectParams checks r redirects to a URL under prefix and returns its query.
func redirectParams(t testing.TB, r response, prefix string) url.Values {
	t.Helper()
	loc := r.Header.Get("Location")
	if r.Status != http.StatusFound && r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, prefix) {
		t.Fatalf("want a redirect to %s, got %d Location %q\n%s", prefix, r.Status, loc, r.Body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
