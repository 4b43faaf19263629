package api_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofferhq/coffer/pkg/auditlog/auditpg"
	"github.com/cofferhq/coffer/pkg/pgtest"
	"github.com/cofferhq/coffer/services/auth/internal/api"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"github.com/cofferhq/coffer/services/auth/internal/keys"
	"github.com/cofferhq/coffer/services/auth/internal/password"
	"github.com/cofferhq/coffer/services/auth/internal/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type fixture struct {
	t   testing.TB
	srv *httptest.Server
	svc *auth.Service
	km  *keys.Manager
	// pool and audit are the fixture's database and audit log (admin_test.go).
	pool  *pgxpool.Pool
	audit *auditpg.Store
	h     *api.Server
	reg   *prometheus.Registry // the server's metrics
}

func newFixture(t testing.TB, cfg auth.Config) *fixture {
	t.Helper()
	return newFixtureKeys(t, cfg, true)
}

// newFixtureKeys is newFixture with a choice: bootstrap false starts the server before any
// signing key exists, as a first start does.
func newFixtureKeys(t testing.TB, cfg auth.Config, bootstrap bool) *fixture {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	db := postgres.New(pool)
	kek := make([]byte, 32)
	rand.Read(kek)
	km, err := keys.NewManager(db, keys.Options{KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	if bootstrap {
		if err := km.Bootstrap(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cfg.SignupEnabled = true
	issuer := keys.NewIssuer(km, "https://auth.test", "coffer-files", 15*time.Minute, nil)
	svc := auth.NewService(auth.Stores{Users: db, Refresh: db, Clients: db, Throttle: db, Codes: db, Sessions: db, Admin: db,
		TOTP: db, Identities: db, Invitations: db, Account: db},
		password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}, 2), issuer, cfg, nil)
	reg := prometheus.NewRegistry()
	audit, err := auditpg.New(pool, "auth_audit_log")
	if err != nil {
		t.Fatal(err)
	}
	svc.SetAuditor(audit)
	h := api.NewServer(slog.New(slog.DiscardHandler), api.Config{Issuer: "https://auth.test", JWKSMaxAge: 90 * time.Second, Metrics: api.NewMetrics(reg), Audit: audit}, svc, km, keys.NewVerifier(km, "https://auth.test", "coffer-files", 0, nil), db, func() bool { return true })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{t: t, srv: srv, svc: svc, km: km, reg: reg, pool: pool, audit: audit, h: h}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// noRedirects answers with the redirect itself, as the tests want to see it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (f *fixture) do(method, path, contentType, body string, header map[string]string) reply {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

func (f *fixture) form(path string, v url.Values, header map[string]string) reply {
	f.t.Helper()
	return f.do("POST", path, "application/x-www-form-urlencoded", v.Encode(), header)
}

// oauthErr checks an RFC 6749 section 5.2 error response and returns its error code.
func oauthErr(t *testing.T, r reply) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type = %q, want application/json; body %s", ct, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("error Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Fatalf("body %s is not an OAuth error", r.body)
	}
	return e.Error
}

func (f *fixture) login(user, pw string) (reply, auth.TokenResponse) {
	f.t.Helper()
	b, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	r := f.do("POST", "/v1/login", "application/json", string(b), nil)
	var tok auth.TokenResponse
	json.Unmarshal(r.body, &tok)
	return r, tok
}

func TestTokenEndpoint(t *testing.T) {
	f := newFixture(t, auth.Config{})
	ctx := context.Background()
	if _, err := f.svc.CreateUser(ctx, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	_, secret, err := f.svc.CreateClient(ctx, "svc-a", []string{"files:read", "files:write"})
	if err != nil {
		t.Fatal(err)
	}
	r, tok := f.login("alice", "alice-password")
	if r.status != 200 || tok.RefreshToken == "" {
		t.Fatalf("login: %d %s", r.status, r.body)
	}

	// Refresh, form-encoded.
	r = f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "scope": {"files:read"}}, nil)
	var next auth.TokenResponse
	if err := json.Unmarshal(r.body, &next); r.status != 200 || err != nil || next.RefreshToken == "" || next.Scope != "files:read" || next.TokenType != "Bearer" {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token response Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	// Reuse: invalid_grant, as JSON (not problem+json).
	r = f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, nil)
	if r.status != 400 || oauthErr(t, r) != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %s", r.status, r.body)
	}

	// The reuse revoked the family: next is dead too. Start a new family.
	r = f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken}}, nil)
	if r.status != 400 || oauthErr(t, r) != "invalid_grant" {
		t.Fatalf("family member after reuse: %d %s", r.status, r.body)
	}
	_, tok = f.login("alice", "alice-password")
	next = tok

	basic := func(id, secret string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))}
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	tests := []struct {
		name       string
		form       url.Values
		header     map[string]string
		wantStatus int
		wantErr    string
	}{
		{"client_secret_basic", cc, basic("svc-a", secret), 200, ""},
		{"client_secret_post", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc-a"}, "client_secret": {secret}, "scope": {"files:write"}}, nil, 200, ""},
		{"wrong secret", cc, basic("svc-a", "nope"), 401, "invalid_client"},
		{"unknown client", cc, basic("svc-b", secret), 401, "invalid_client"},
		{"no client authentication", cc, nil, 401, "invalid_client"},
		{"two authentication methods", url.Values{"grant_type": {"client_credentials"}, "client_secret": {secret}}, basic("svc-a", secret), 400, "invalid_request"},
		{"scope beyond the client's", url.Values{"grant_type": {"client_credentials"}, "scope": {"files:share"}}, basic("svc-a", secret), 400, "invalid_scope"},
		{"unsupported grant", url.Values{"grant_type": {"password"}, "username": {"alice"}}, nil, 400, "unsupported_grant_type"},
		{"missing grant type", url.Values{}, nil, 400, "invalid_request"},
		{"repeated parameter", url.Values{"grant_type": {"client_credentials", "client_credentials"}}, basic("svc-a", secret), 400, "invalid_request"},
		{"forged refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {strings.Repeat("A", 43)}}, nil, 400, "invalid_grant"},
		{"refresh token for another client", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken}, "client_id": {"svc-a"}}, nil, 401, "invalid_client"},
		{"refresh token for another client, authenticated", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken}}, basic("svc-a", secret), 400, "invalid_grant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.form("/oauth2/token", tc.form, tc.header)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantErr != "" {
				if got := oauthErr(t, r); got != tc.wantErr {
					t.Fatalf("error %q, want %q", got, tc.wantErr)
				}
				if tc.wantStatus == 401 && r.header.Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
				if strings.Contains(string(r.body), secret) {
					t.Fatal("error body echoes the client secret")
				}
			}
		})
	}
	// JSON instead of a form is refused.
	r = f.do("POST", "/oauth2/token", "application/json", `{"grant_type":"refresh_token"}`, nil)
	if r.status != 400 || oauthErr(t, r) != "invalid_request" {
		t.Fatalf("JSON body: %d %s", r.status, r.body)
	}
	// The refresh token survived the failed attempt with the wrong client.
	r = f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken}}, nil)
	if r.status != 200 {
		t.Fatalf("refresh after failed attempts: %d %s", r.status, r.body)
	}
	json.Unmarshal(r.body, &next)

	// Revocation (RFC 7009): 200, then the token is dead; unknown tokens are 200 too.
	for _, tk := range []string{next.RefreshToken, "unknown"} {
		if r := f.form("/oauth2/revoke", url.Values{"token": {tk}, "token_type_hint": {"refresh_token"}}, nil); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
	}
	if r := f.form("/oauth2/revoke", url.Values{}, nil); r.status != 400 || oauthErr(t, r) != "invalid_request" {
		t.Fatalf("revoke without token: %d %s", r.status, r.body)
	}
	r = f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken}}, nil)
	if r.status != 400 || oauthErr(t, r) != "invalid_grant" {
		t.Fatalf("refresh after revocation: %d %s", r.status, r.body)
	}
}

func TestLoginAbuse(t *testing.T) {
	f := newFixture(t, auth.Config{AccountAttempts: 3, AddressAttempts: 100, LoginWindow: time.Minute})
	if _, err := f.svc.CreateUser(context.Background(), "bob", "bob-password"); err != nil {
		t.Fatal(err)
	}
	unknown, _ := f.login("nobody", "bob-password")
	wrong, _ := f.login("bob", "wrong-password")
	if unknown.status != 401 || wrong.status != unknown.status || string(wrong.body) != string(unknown.body) {
		t.Fatalf("unknown user (%d %s) and wrong password (%d %s) differ", unknown.status, unknown.body, wrong.status, wrong.body)
	}
	// A 1 MB password is refused without hashing, with the same answer.
	huge, _ := f.login("bob", strings.Repeat("p", 1<<20))
	if huge.status != 401 && huge.status != 413 {
		t.Fatalf("1 MB password: %d %s", huge.status, huge.body)
	}
	f.login("bob", "wrong-again")
	f.login("bob", "wrong-third")
	r, _ := f.login("bob", "bob-password")
	if r.status != 429 {
		t.Fatalf("after 3 failures: %d %s, want 429", r.status, r.body)
	}
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("429 without a positive Retry-After (%q)", ra)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("429 Content-Type %q", ct)
	}
	// X-Forwarded-For from an untrusted peer does not change the client address.
	r = f.do("POST", "/v1/login", "application/json", `{"username":"bob","password":"bob-password"}`, map[string]string{"X-Forwarded-For": "203.0.113.99"})
	if r.status != 429 {
		t.Fatalf("spoofed X-Forwarded-For: %d", r.status)
	}
}

// TestKeysAndDiscovery covers SECURITY.md section C for the documents the auth service serves.
func TestKeysAndDiscovery(t *testing.T) {
	f := newFixture(t, auth.Config{})
	var doc map[string]any
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		r := f.do("GET", p, "", "", nil)
		if err := json.Unmarshal(r.body, &doc); r.status != 200 || err != nil {
			t.Fatalf("%s: %d %s", p, r.status, r.body)
		}
		if doc["issuer"] != "https://auth.test" || doc["jwks_uri"] != "https://auth.test/.well-known/jwks.json" ||
			doc["token_endpoint"] != "https://auth.test/oauth2/token" || doc["revocation_endpoint"] != "https://auth.test/oauth2/revoke" {
			t.Fatalf("%s: endpoints %v", p, doc)
		}
		if doc["authorization_endpoint"] != "https://auth.test/oauth2/authorize" {
			t.Fatalf("%s: authorization_endpoint %v", p, doc["authorization_endpoint"])
		}
		// Nothing about ID tokens while none are issued.
		for field := range doc {
			if strings.Contains(field, "id_token") || field == "subject_types_supported" || field == "userinfo_endpoint" {
				t.Fatalf("%s advertises %s, but no ID tokens are issued", p, field)
			}
		}
		for field, want := range map[string]string{
			"grant_types_supported":                 "authorization_code client_credentials refresh_token",
			"response_types_supported":              "code",
			"code_challenge_methods_supported":      "S256",
			"scopes_supported":                      "files:read files:share files:write",
			"token_endpoint_auth_methods_supported": "client_secret_basic client_secret_post none",
		} {
			var got []string
			for _, v := range doc[field].([]any) {
				got = append(got, v.(string))
			}
			if sortJoin(got) != want {
				t.Fatalf("%s %s = %v, want %s", p, field, got, want)
			}
		}
	}

	r := f.do("GET", "/.well-known/jwks.json", "", "", nil)
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "max-age=90") {
		t.Fatalf("JWKS Cache-Control = %q", cc)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS %s", r.body)
	}
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS key carries private member %q", private)
			}
		}
		if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["kid"] == "" {
			t.Fatalf("JWKS key members %v", k)
		}
		n, err := base64.RawURLEncoding.DecodeString(k["n"].(string))
		if err != nil || new(big.Int).SetBytes(n).BitLen() < 2048 {
			t.Fatalf("modulus below 2048 bits (%v)", err)
		}
	}
	if r2 := f.do("GET", "/.well-known/jwks.json", "", "", map[string]string{"If-None-Match": r.header.Get("ETag")}); r2.status != 304 {
		t.Fatalf("If-None-Match: %d, want 304", r2.status)
	}
}

func sortJoin(s []string) string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return strings.Join(s, " ")
}
