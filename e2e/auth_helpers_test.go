package e2e_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// admin runs `coffer-auth args...` against the stack's auth database and returns stdout.
func (s *stack) admin(stdin string, args ...string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.Auth, args...)
	cmd.Env = []string{"COFFER_AUTH_DATABASE_URL=" + s.authDB, "COFFER_AUTH_KEK=" + s.kek}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("coffer-auth %v: %v\n%s%s", args, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// createClient makes a service client with the admin command and returns its secret.
func (s *stack) createClient(id, scopes string) string {
	s.t.Helper()
	out := s.admin("", "clients", "create", id, "--scopes", scopes)
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "client_secret: "); ok {
			return strings.TrimSpace(v)
		}
	}
	s.t.Fatalf("no secret in output:\n%s", out)
	return ""
}

// postForm sends an application/x-www-form-urlencoded POST.
func (c *client) postForm(u string, v url.Values, header map[string]string) response {
	c.t.Helper()
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, val := range header {
		h[k] = val
	}
	return c.do("POST", u, strings.NewReader(v.Encode()), h)
}

// tokens is a login or token-endpoint answer.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	ExpiresIn    int    `json:"expires_in"`
}

// loginTokens logs in through the JSON login endpoint of base and returns both tokens.
func (c *client) loginTokens(base, user, pw string) tokens {
	c.t.Helper()
	tk, err := c.apiScope(base, "").Login(c.ctx(), user, pw)
	if err != nil {
		c.t.Fatalf("login %s at %s: %v", user, base, err)
	}
	return tokens{AccessToken: tk.AccessToken, RefreshToken: tk.RefreshToken, Scope: tk.Scope, ExpiresIn: tk.ExpiresIn}
}

// fetchJWKS returns a JWK Set document parsed with go-jose.
func fetchJWKS(t testing.TB, u string) (jose.JSONWebKeySet, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var set jose.JSONWebKeySet
	if resp.StatusCode != 200 || json.Unmarshal(body, &set) != nil {
		t.Fatalf("JWKS %s: %d %s", u, resp.StatusCode, body)
	}
	return set, body
}

// accessClaims are the claims a third party checks.
type accessClaims struct {
	josejwt.Claims
	Scope    string `json:"scope"`
	ClientID string `json:"client_id"`
}

// verifyWithJose verifies an access token with go-jose, independently of golang-jwt: RS256
// only, typ at+jwt, the key picked from set by kid, then iss, aud and exp.
func verifyWithJose(set jose.JSONWebKeySet, raw, issuer, audience string) (*accessClaims, error) {
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, err
	}
	if len(tok.Headers) != 1 {
		return nil, errString("want one signature")
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
		return nil, errString("typ is " + typ + ", want at+jwt")
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		return nil, errString("kid " + h.KeyID + " not in the JWKS")
	}
	var c accessClaims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		return nil, err
	}
	if c.Expiry == nil {
		return nil, errString("no exp")
	}
	if err := c.ValidateWithLeeway(josejwt.Expected{Issuer: issuer, AnyAudience: josejwt.Audience{audience}, Time: time.Now()}, 0); err != nil {
		return nil, err
	}
	return &c, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// kidOf returns the kid header of a JWT without verifying it.
func kidOf(t testing.TB, raw string) string {
	t.Helper()
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Headers[0].KeyID
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
