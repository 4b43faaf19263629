package linktoken_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/linktoken"
)

func newSigner(t testing.TB) (*linktoken.Signer, []byte) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	s, err := linktoken.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return s, key
}

func claims(now time.Time) files.LinkClaims {
	sum := make([]byte, 32)
	rand.Read(sum)
	return files.LinkClaims{LinkID: uuid.New(), FileID: uuid.New(), SHA256: sum, JTI: "AAAAAAAAAAAAAAAAAAAAAA", IssuedAt: now, ExpiresAt: now.Add(time.Minute)}
}

func TestRoundTrip(t *testing.T) {
	s, _ := newSigner(t)
	now := time.Unix(1_800_000_000, 0)
	want := claims(now)
	tok, err := s.Sign(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(tok, now.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got.LinkID != want.LinkID || got.FileID != want.FileID || string(got.SHA256) != string(want.SHA256) || got.JTI != want.JTI || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, err := s.Verify(tok, now.Add(2*time.Minute)); !errors.Is(err, linktoken.ErrInvalid) {
		t.Fatalf("expired: %v", err)
	}
}

func TestRejects(t *testing.T) {
	s, key := newSigner(t)
	other, _ := newSigner(t)
	now := time.Unix(1_800_000_000, 0)
	c := claims(now)
	good, _ := s.Sign(c)
	foreign, _ := other.Sign(c)
	mapClaims := jwt.MapClaims{"sub": c.FileID.String(), "aud": linktoken.Audience, "exp": now.Add(time.Minute).Unix(),
		"jti": c.JTI, "lid": c.LinkID.String(), "sha256": base64.RawURLEncoding.EncodeToString(c.SHA256)}
	with := func(method jwt.SigningMethod, header map[string]any, cl jwt.MapClaims, k any) string {
		tk := jwt.NewWithClaims(method, cl)
		for h, v := range header {
			tk.Header[h] = v
		}
		out, err := tk.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	wrongAud := jwt.MapClaims{}
	for k, v := range mapClaims {
		wrongAud[k] = v
	}
	wrongAud["aud"] = "coffer-files"
	noExp := jwt.MapClaims{}
	for k, v := range mapClaims {
		if k != "exp" {
			noExp[k] = v
		}
	}
	parts := strings.Split(good, ".")
	cases := map[string]string{
		"other key":          foreign,
		"access token shape": with(jwt.SigningMethodRS256, map[string]any{"typ": "at+jwt"}, mapClaims, rsaKey),
		"at+jwt typ, hs256":  with(jwt.SigningMethodHS256, map[string]any{"typ": "at+jwt"}, mapClaims, key),
		"no typ":             with(jwt.SigningMethodHS256, map[string]any{"typ": nil}, mapClaims, key),
		"wrong audience":     with(jwt.SigningMethodHS256, map[string]any{"typ": linktoken.Type}, wrongAud, key),
		"no exp":             with(jwt.SigningMethodHS256, map[string]any{"typ": linktoken.Type}, noExp, key),
		"crit":               with(jwt.SigningMethodHS256, map[string]any{"typ": linktoken.Type, "crit": []string{"x"}}, mapClaims, key),
		"HS512":              with(jwt.SigningMethodHS512, map[string]any{"typ": linktoken.Type}, mapClaims, key),
		"alg none":           base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"coffer-link+jwt"}`)) + "." + parts[1] + ".",
		"signature stripped": parts[0] + "." + parts[1] + ".",
		"huge":               strings.Repeat("a", 10000) + ".b.c",
		"many dots":          strings.Repeat(".", 5000),
		"empty":              "",
	}
	for name, tok := range cases {
		if _, err := s.Verify(tok, now); !errors.Is(err, linktoken.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := linktoken.New(make([]byte, 31)); err == nil {
		t.Error("a 31-byte key was accepted")
	}
}

// FuzzVerify: no input makes Verify panic or accept a token it did not sign.
func FuzzVerify(f *testing.F) {
	s, _ := newSigner(f)
	now := time.Unix(1_800_000_000, 0)
	good, _ := s.Sign(claims(now))
	f.Add(good)
	f.Add("a.b.c")
	f.Add(strings.Repeat(".", 100))
	f.Fuzz(func(t *testing.T, tok string) {
		if _, err := s.Verify(tok, now); err == nil && tok != good {
			// Only re-encodings of the genuine token's parts could verify, which strict
			// decoding refuses; anything else verifying is a forgery.
			t.Fatalf("accepted %q", tok)
		}
	})
}

// TestVerifySizeLimit: a genuine token of exactly MaxTokenBytes verifies; one byte more is
// refused before parsing.
func TestVerifySizeLimit(t *testing.T) {
	s, key := newSigner(t)
	now := time.Now()
	sum := make([]byte, 32)
	for pad := 0; pad < linktoken.MaxTokenBytes; pad++ {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"jti": strings.Repeat("j", 22), "sub": uuid.NewString(), "aud": linktoken.Audience,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "lid": uuid.NewString(),
			"sha256": base64.RawURLEncoding.EncodeToString(sum), "pad": strings.Repeat("p", pad),
		})
		tok.Header["typ"] = linktoken.Type
		raw, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) < linktoken.MaxTokenBytes {
			continue
		}
		if len(raw) > linktoken.MaxTokenBytes {
			break
		}
		if _, err := s.Verify(raw, now); err != nil {
			t.Fatalf("a genuine token of exactly MaxTokenBytes: %v", err)
		}
		if _, err := s.Verify(raw+"A", now); !errors.Is(err, linktoken.ErrInvalid) {
			t.Fatalf("a token of MaxTokenBytes+1: %v", err)
		}
		return
	}
	t.Fatal("no padding gives a token of exactly MaxTokenBytes")
}
