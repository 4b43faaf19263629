package tokenauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/services/files/internal/tokenauth"
)

const (
	issuer   = "https://auth.example"
	audience = "coffer-files"
	kid      = "test-key"
)

// jwksServer serves a JWK Set holding pub and counts fetches.
func jwksServer(t *testing.T, pub *rsa.PublicKey) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgRS256, KID: kid, USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &fetches
}

func startVerifier(t *testing.T, url string) *tokenauth.Verifier {
	t.Helper()
	v, err := tokenauth.New(tokenauth.Options{JWKSURL: url, Issuer: issuer, Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	runReady(t, v)
	return v
}

// runReady runs v until the test ends and waits, with a deadline, until it has loaded a key.
func runReady(tb testing.TB, v *tokenauth.Verifier) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	go v.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for !v.Ready(ctx) {
		if time.Now().After(deadline) {
			tb.Fatal("verifier never became ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sign(t *testing.T, key *rsa.PrivateKey, method jwt.SigningMethod, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["typ"] = accesstoken.Type
	tok.Header["kid"] = kid
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": issuer, "sub": "user-1", "aud": audience, "scope": "files:read files:write",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": "j1",
	}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for kk, vv := range c {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestVerify(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv, _ := jwksServer(t, &key.PublicKey)
	v := startVerifier(t, srv.URL)
	ctx := context.Background()

	good := sign(t, key, jwt.SigningMethodRS256, nil, validClaims())
	claims, err := v.Verify(ctx, good)
	if err != nil {
		t.Fatalf("valid token rejected: %v", err)
	}
	if claims.Subject != "user-1" || !claims.HasScope(accesstoken.ScopeFilesWrite) {
		t.Fatalf("claims = %+v", claims)
	}

	now := time.Now()
	bad := map[string]string{
		"other key, real kid":   sign(t, other, jwt.SigningMethodRS256, nil, validClaims()),
		"RS384":                 sign(t, key, jwt.SigningMethodRS384, nil, validClaims()),
		"PS256":                 sign(t, key, jwt.SigningMethodPS256, nil, validClaims()),
		"typ JWT":               sign(t, key, jwt.SigningMethodRS256, map[string]any{"typ": "JWT"}, validClaims()),
		"no typ":                sign(t, key, jwt.SigningMethodRS256, map[string]any{"typ": nil}, validClaims()),
		"crit header":           sign(t, key, jwt.SigningMethodRS256, map[string]any{"crit": []string{"exp"}}, validClaims()),
		"kid not a string":      sign(t, key, jwt.SigningMethodRS256, map[string]any{"kid": 7}, validClaims()),
		"wrong iss":             sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "iss", "https://evil")),
		"no iss":                sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "iss", nil)),
		"wrong aud":             sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "aud", "other")),
		"no aud":                sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "aud", nil)),
		"no exp":                sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "exp", nil)),
		"expired beyond leeway": sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "exp", now.Add(-time.Minute).Unix())),
		"nbf in the future":     sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "nbf", now.Add(time.Hour).Unix())),
		"iat in the future":     sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "iat", now.Add(time.Hour).Unix())),
		"exp as string":         sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "exp", "9999999999")),
		"exp 1e300":             sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "exp", 1e300)),
		"aud as number":         sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "aud", 7)),
		"sub as number":         sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "sub", 42)),
		"no sub":                sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "sub", nil)),
		"signature stripped":    good[:strings.LastIndex(good, ".")+1],
		"alg none":              noneToken(validClaims()),
		"too long":              good + strings.Repeat("A", tokenauth.MaxTokenBytes),
		"many dots":             strings.Repeat(".", 5000),
	}
	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(ctx, tok); !errors.Is(err, tokenauth.ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func noneToken(c jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, c)
	tok.Header["typ"] = accesstoken.Type
	s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	return s
}

// A flood of unknown kids costs the auth service at most one extra JWKS fetch per interval.
func TestUnknownKIDFloodIsRateLimited(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv, fetches := jwksServer(t, &key.PublicKey)
	v := startVerifier(t, srv.URL)
	before := fetches.Load()
	for i := range 1000 {
		tok := sign(t, key, jwt.SigningMethodRS256, map[string]any{"kid": "random-" + string(rune('a'+i%26)) + time.Now().String()}, validClaims())
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, tokenauth.ErrInvalidToken) {
			t.Fatalf("unknown kid accepted or wrong error: %v", err)
		}
	}
	if extra := fetches.Load() - before; extra > 1 {
		t.Fatalf("1000 unknown kids caused %d JWKS fetches, want at most 1", extra)
	}
}

func TestNotReadyBeforeKeys(t *testing.T) {
	v, err := tokenauth.New(tokenauth.Options{JWKSURL: "http://127.0.0.1:1/jwks", Issuer: issuer, Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	if v.Ready(context.Background()) {
		t.Fatal("ready with no keys")
	}
	if _, err := v.Verify(context.Background(), "a.b.c"); !errors.Is(err, tokenauth.ErrNotReady) {
		t.Fatalf("Verify before keys = %v, want ErrNotReady", err)
	}
}

// TestLeeway: exp, nbf and iat are honoured with the configured leeway (30 s), on a fixed
// clock: a second inside it is accepted, a second outside refused.
func TestLeeway(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv, _ := jwksServer(t, &key.PublicKey)
	now := time.Unix(1_900_000_000, 0)
	const leeway = 30 * time.Second
	v, err := tokenauth.New(tokenauth.Options{JWKSURL: srv.URL, Issuer: issuer, Audience: audience, Leeway: leeway,
		Now: func() time.Time { return now }, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	runReady(t, v)
	ctx := context.Background()
	base := jwt.MapClaims{"iss": issuer, "sub": "user-1", "aud": audience, "scope": "files:read",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	inside, outside := leeway-time.Second, leeway+time.Second
	for _, tc := range []struct {
		claim string
		at    time.Time
		ok    bool
	}{
		{"nbf", now.Add(inside), true},
		{"nbf", now.Add(outside), false},
		{"iat", now.Add(inside), true},
		{"iat", now.Add(outside), false},
		{"exp", now.Add(-inside), true},
		{"exp", now.Add(-outside), false},
	} {
		tok := sign(t, key, jwt.SigningMethodRS256, nil, with(base, tc.claim, tc.at.Unix()))
		_, err := v.Verify(ctx, tok)
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, tokenauth.ErrInvalidToken) {
			t.Errorf("%s at now%+ds: Verify = %v, want accepted = %v", tc.claim, int(tc.at.Sub(now)/time.Second), err, tc.ok)
		}
	}
}
