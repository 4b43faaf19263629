package accesstoken_test

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cofferhq/coffer/pkg/accesstoken"
)

const (
	testIssuer   = "https://auth.example"
	testAudience = "coffer-files"
)

var b64 = base64.RawURLEncoding

// signer makes tokens byte by byte, so a test controls every member of header and payload.
type signer struct {
	key *rsa.PrivateKey
	now time.Time
}

func newSigner(t testing.TB) *signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{key: k, now: time.Unix(1_800_000_000, 0)}
}

// raw signs the given header and payload JSON text with RS256.
func (s *signer) raw(t testing.TB, header, payload string) string {
	t.Helper()
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64.EncodeToString(sig)
}

// claims is a valid payload with changes: a nil value deletes the member.
func (s *signer) claims(changes map[string]any) string {
	m := map[string]any{
		"iss": testIssuer, "sub": "6f1c1d0e-7a2b-4c3d-9e8f-0a1b2c3d4e5f", "aud": testAudience,
		"exp": s.now.Add(time.Minute).Unix(), "iat": s.now.Unix(), "nbf": s.now.Unix(),
		"jti": "j1", "scope": "files:read files:write", "client_id": "coffer",
	}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

const goodHeader = `{"alg":"RS256","typ":"at+jwt","kid":"k1"}`

func (s *signer) validator(leeway time.Duration) *accesstoken.Validator {
	return accesstoken.NewValidator(testIssuer, testAudience, leeway, func() time.Time { return s.now })
}

func (s *signer) keyfunc(*jwt.Token) (any, error) { return &s.key.PublicKey, nil }

func TestValidate(t *testing.T) {
	s := newSigner(t)
	now := s.now.Unix()
	hs := func(header, payload string) string { // HS256 keyed with the RSA public key's DER form
		in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
		mac := hmac.New(sha256.New, s.key.PublicKey.N.Bytes())
		mac.Write([]byte(in))
		return in + "." + b64.EncodeToString(mac.Sum(nil))
	}
	for _, tc := range []struct {
		name string
		raw  string
		ok   bool
	}{
		{"valid", s.raw(t, goodHeader, s.claims(nil)), true},
		{"typ application/at+jwt", s.raw(t, `{"alg":"RS256","typ":"application/at+jwt"}`, s.claims(nil)), true},
		{"typ in another case", s.raw(t, `{"alg":"RS256","typ":"AT+JWT"}`, s.claims(nil)), true},
		{"no typ", s.raw(t, `{"alg":"RS256"}`, s.claims(nil)), false},
		{"typ JWT", s.raw(t, `{"alg":"RS256","typ":"JWT"}`, s.claims(nil)), false},
		{"typ as a number", s.raw(t, `{"alg":"RS256","typ":1}`, s.claims(nil)), false},
		{"crit", s.raw(t, `{"alg":"RS256","typ":"at+jwt","crit":["exp"]}`, s.claims(nil)), false},
		{"kid empty", s.raw(t, `{"alg":"RS256","typ":"at+jwt","kid":""}`, s.claims(nil)), false},
		{"kid a number", s.raw(t, `{"alg":"RS256","typ":"at+jwt","kid":7}`, s.claims(nil)), false},
		{"kid of 128", s.raw(t, `{"alg":"RS256","typ":"at+jwt","kid":"`+strings.Repeat("k", 128)+`"}`, s.claims(nil)), true},
		{"kid of 129", s.raw(t, `{"alg":"RS256","typ":"at+jwt","kid":"`+strings.Repeat("k", 129)+`"}`, s.claims(nil)), false},
		{"alg HS256 with the public key", hs(`{"alg":"HS256","typ":"at+jwt"}`, s.claims(nil)), false},
		{"alg none", b64.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + b64.EncodeToString([]byte(s.claims(nil))) + ".", false},
		{"payload changed", func() string {
			r := s.raw(t, goodHeader, s.claims(nil))
			p := strings.Split(r, ".")
			p[1] = b64.EncodeToString([]byte(s.claims(map[string]any{"sub": "someone-else"})))
			return strings.Join(p, ".")
		}(), false},
		{"wrong issuer", s.raw(t, goodHeader, s.claims(map[string]any{"iss": "https://evil.example"})), false},
		{"no issuer", s.raw(t, goodHeader, s.claims(map[string]any{"iss": nil})), false},
		{"wrong audience", s.raw(t, goodHeader, s.claims(map[string]any{"aud": "other"})), false},
		{"audience in a list", s.raw(t, goodHeader, s.claims(map[string]any{"aud": []string{"x", testAudience}})), true},
		{"no audience", s.raw(t, goodHeader, s.claims(map[string]any{"aud": nil})), false},
		{"no exp", s.raw(t, goodHeader, s.claims(map[string]any{"exp": nil})), false},
		{"expired", s.raw(t, goodHeader, s.claims(map[string]any{"exp": now - 1})), false},
		{"exp now", s.raw(t, goodHeader, s.claims(map[string]any{"exp": now})), false},
		{"exp fractional, just ahead", s.raw(t, goodHeader, s.claims(map[string]any{"exp": float64(now) + 1.5})), true},
		{"exp as a string", s.raw(t, goodHeader, s.claims(map[string]any{"exp": fmt.Sprint(now + 60)})), false},
		{"exp negative", s.raw(t, goodHeader, s.claims(map[string]any{"exp": -1})), false},
		{"exp 1e300", s.raw(t, goodHeader, `{"iss":"`+testIssuer+`","sub":"u","aud":"`+testAudience+`","exp":1e300}`), false},
		{"exp at the largest date", s.raw(t, goodHeader, s.claims(map[string]any{"exp": 1e11})), true},
		{"exp past the largest date", s.raw(t, goodHeader, s.claims(map[string]any{"exp": 1e11 + 1})), false},
		{"exp an array", s.raw(t, goodHeader, s.claims(map[string]any{"exp": []int64{now + 60}})), false},
		{"nbf ahead", s.raw(t, goodHeader, s.claims(map[string]any{"nbf": now + 60})), false},
		{"iat ahead", s.raw(t, goodHeader, s.claims(map[string]any{"iat": now + 60})), false},
		{"iat zero", s.raw(t, goodHeader, s.claims(map[string]any{"iat": 0})), true},
		{"no sub", s.raw(t, goodHeader, s.claims(map[string]any{"sub": nil})), false},
		{"empty sub", s.raw(t, goodHeader, s.claims(map[string]any{"sub": ""})), false},
		{"sub a number", s.raw(t, goodHeader, s.claims(map[string]any{"sub": 7})), false},
		{"duplicate sub", s.raw(t, goodHeader, strings.Replace(s.claims(nil), `"sub":`, `"sub":"a","sub":`, 1)), false},
		{"duplicate after a nested object", s.raw(t, goodHeader, strings.Replace(s.claims(nil), `{`, `{"x":{"y":1},"x":2,`, 1)), false},
		{"duplicate alg", s.raw(t, `{"alg":"RS256","alg":"RS256","typ":"at+jwt"}`, s.claims(nil)), false},
		{"four segments", s.raw(t, goodHeader, s.claims(nil)) + ".x", false},
		{"two segments", strings.Join(strings.Split(s.raw(t, goodHeader, s.claims(nil)), ".")[:2], "."), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s.validator(0).Validate(tc.raw, s.keyfunc)
			if tc.ok != (err == nil) {
				t.Fatalf("Validate: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, accesstoken.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if err == nil && (c.Issuer != testIssuer || c.Subject == "" || c.ExpiresAt == nil) {
				t.Fatalf("claims %+v", c)
			}
		})
	}
}

// TestValidateLeeway: leeway tolerates skew on exp, nbf and iat, and no more.
func TestValidateLeeway(t *testing.T) {
	s := newSigner(t)
	now := s.now.Unix()
	v := s.validator(accesstoken.DefaultLeeway) // 30 s
	for _, tc := range []struct {
		name    string
		changes map[string]any
		ok      bool
	}{
		{"expired within leeway", map[string]any{"exp": now - 29}, true},
		{"expired beyond leeway", map[string]any{"exp": now - 31}, false},
		{"nbf within leeway", map[string]any{"nbf": now + 29}, true},
		{"nbf beyond leeway", map[string]any{"nbf": now + 31}, false},
		{"iat within leeway", map[string]any{"iat": now + 29}, true},
		{"iat beyond leeway", map[string]any{"iat": now + 31}, false},
	} {
		if _, err := v.Validate(s.raw(t, goodHeader, s.claims(tc.changes)), s.keyfunc); tc.ok != (err == nil) {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestValidateClaims: what Validate returns is what was signed.
func TestValidateClaims(t *testing.T) {
	s := newSigner(t)
	c, err := s.validator(0).Validate(s.raw(t, goodHeader, s.claims(map[string]any{"exp": float64(s.now.Unix()) + 60.25})), s.keyfunc)
	if err != nil {
		t.Fatal(err)
	}
	want := s.now.Add(60 * time.Second)
	if c.Subject != "6f1c1d0e-7a2b-4c3d-9e8f-0a1b2c3d4e5f" || c.ID != "j1" || c.ClientID != "coffer" || c.Scope != "files:read files:write" ||
		len(c.Audience) != 1 || c.Audience[0] != testAudience || !c.IssuedAt.Equal(s.now) || !c.NotBefore.Equal(s.now) ||
		c.ExpiresAt.Time.Before(want) || !c.ExpiresAt.Time.Before(want.Add(time.Second)) {
		t.Fatalf("claims %+v (exp %v)", c, c.ExpiresAt)
	}
	if !c.HasScope("files:write") || c.HasScope("files:share") || c.HasScope("files") || len(c.Scopes()) != 2 {
		t.Fatalf("scopes of %q: %v", c.Scope, c.Scopes())
	}
	if _, err := s.validator(0).Validate(s.raw(t, goodHeader, s.claims(nil)), func(*jwt.Token) (any, error) { return nil, errors.New("no key") }); !errors.Is(err, accesstoken.ErrInvalid) {
		t.Fatalf("with no key: %v", err)
	}
}

// TestValidateSizeLimit: a token of MaxTokenBytes is parsed, one byte more is refused before
// any parsing.
func TestValidateSizeLimit(t *testing.T) {
	s := newSigner(t)
	// Find the padding that makes the token exactly MaxTokenBytes long from the lengths alone
	// (an RS256 signature of a 2048-bit key is 256 bytes), then sign once; the kid's length
	// shifts the header when base64 cannot hit the size from the payload alone.
	exact := ""
	sigLen := b64.EncodedLen(s.key.Size())
	for kid := 1; kid <= 4 && exact == ""; kid++ {
		header := `{"alg":"RS256","typ":"at+jwt","kid":"` + strings.Repeat("k", kid) + `"}`
		for pad := 0; pad < accesstoken.MaxTokenBytes; pad++ {
			payload := s.claims(map[string]any{"pad": strings.Repeat("p", pad)})
			n := b64.EncodedLen(len(header)) + 1 + b64.EncodedLen(len(payload)) + 1 + sigLen
			if n == accesstoken.MaxTokenBytes {
				exact = s.raw(t, header, payload)
				break
			}
			if n > accesstoken.MaxTokenBytes {
				break
			}
		}
	}
	if exact == "" {
		t.Fatal("no padding gives a token of exactly MaxTokenBytes")
	}
	if _, err := s.validator(0).Validate(exact, s.keyfunc); err != nil {
		t.Fatalf("a token of exactly MaxTokenBytes: %v", err)
	}
	called := false
	_, err := s.validator(0).Validate(exact+"A", func(*jwt.Token) (any, error) { called = true; return &s.key.PublicKey, nil })
	if err == nil || called {
		t.Fatalf("a token of MaxTokenBytes+1: err %v, key asked %v; want refused before parsing", err, called)
	}
}

func TestClientSubject(t *testing.T) {
	if got := accesstoken.ClientSubject("ci-bot"); got != "client:ci-bot" {
		t.Fatalf("ClientSubject = %q", got)
	}
	for sub, want := range map[string]bool{"client:ci-bot": true, "6f1c1d0e-7a2b-4c3d-9e8f-0a1b2c3d4e5f": false, "client": false, "xclient:a": false} {
		if got := accesstoken.IsClientSubject(sub); got != want {
			t.Errorf("IsClientSubject(%q) = %v, want %v", sub, got, want)
		}
	}
}
