package tokenauth_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/cofferhq/coffer/services/files/internal/tokenauth"
)

// FuzzVerify: whatever the token, Verify never panics, and it never accepts a token whose
// RS256 signature does not verify, independently, under the one published key, whose header
// is not alg RS256 / typ at+jwt with the published kid, or whose header repeats a member.
//
// The published key is testdata/test_key.pem, a fixed test-only key, so the seeds in
// testdata/fuzz/FuzzVerify can carry a genuine signature and reach the defence they are
// named for (see TestFuzzSeedsReachTheirDefence) instead of failing on the signature.
func FuzzVerify(f *testing.F) {
	key := loadKey(f, "test_key.pem")
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgRS256, KID: kid, USE: jwkset.UseSig}})
	if err != nil {
		f.Fatal(err)
	}
	body, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()
	v, err := tokenauth.New(tokenauth.Options{JWKSURL: srv.URL, Issuer: issuer, Audience: audience, UnknownKIDInterval: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	runReady(f, v)
	ctx := context.Background()

	sign := func(header map[string]any, claims jwt.MapClaims) string {
		t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		for k, v := range header {
			t.Header[k] = v
		}
		s, err := t.SignedString(key)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	now := time.Now()
	claims := jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "user-1", "scope": "files:read",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nbf": now.Unix()}
	valid := sign(map[string]any{"typ": "at+jwt", "kid": kid}, claims)
	if _, err := v.Verify(ctx, valid); err != nil {
		f.Fatalf("seed token does not verify: %v", err)
	}
	p := strings.Split(valid, ".")
	f.Add(valid)
	f.Add(p[0] + "." + p[1] + ".")
	f.Add(sign(map[string]any{"typ": "JWT", "kid": kid}, claims))
	f.Add(sign(map[string]any{"typ": "at+jwt", "kid": kid, "crit": []string{"exp"}}, claims))
	f.Add(sign(map[string]any{"typ": "at+jwt", "kid": kid}, jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "u", "exp": "9999999999"}))
	f.Add(b64(`{"alg":"none","typ":"at+jwt","kid":"`+kid+`"}`) + "." + p[1] + ".")
	f.Add(b64(`{"alg":"HS256","typ":"at+jwt","kid":"`+kid+`"}`) + "." + p[1] + "." + p[2])
	f.Add(strings.Repeat(".", 100))

	f.Fuzz(func(t *testing.T, tok string) {
		got, err := v.Verify(ctx, tok)
		if err != nil {
			return
		}
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token of %d segments", len(parts))
		}
		var h map[string]any
		hb, herr := base64.RawURLEncoding.DecodeString(parts[0])
		if herr != nil || json.Unmarshal(hb, &h) != nil || h["alg"] != "RS256" || h["kid"] != kid || hasDuplicateMember(hb) ||
			!strings.EqualFold(h["typ"].(string), "at+jwt") && !strings.EqualFold(h["typ"].(string), "application/at+jwt") {
			t.Fatalf("accepted a token with header %s", hb)
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err != nil || rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig) != nil {
			t.Fatalf("accepted a token whose signature does not verify: %q", tok)
		}
		if got.Subject == "" || !slices.Contains(got.Audience, audience) || got.Issuer != issuer || got.ExpiresAt == nil {
			t.Fatalf("accepted claims %+v", got)
		}
	})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// loadKey reads a fixed test-only RSA key from testdata.
func loadKey(tb testing.TB, name string) *rsa.PrivateKey {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		tb.Fatalf("%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// hasDuplicateMember reports whether a JSON object repeats a member name at its top level.
func hasDuplicateMember(obj []byte) bool {
	d := json.NewDecoder(bytes.NewReader(obj))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for d.More() {
		tok, err := d.Token()
		name, ok := tok.(string)
		if err != nil || !ok {
			return false
		}
		if seen[name] {
			return true
		}
		seen[name] = true
		var skip json.RawMessage
		if d.Decode(&skip) != nil {
			return false
		}
	}
	return false
}

// TestFuzzSeedsReachTheirDefence: each seed named for a defence carries a signature that
// verifies (under the published test key, or for jwk_header under the key its header
// embeds), so it is refused by that defence and not merely for a bad signature; and it is
// refused.
func TestFuzzSeedsReachTheirDefence(t *testing.T) {
	trusted := loadKey(t, "test_key.pem")
	srv, _ := jwksServer(t, &trusted.PublicKey)
	v := startVerifier(t, srv.URL)
	for name, signer := range map[string]*rsa.PublicKey{
		"duplicate_alg": &trusted.PublicKey,                        // alg "none" then "RS256": must be refused, not last-wins
		"kid_number":    &trusted.PublicKey,                        // kid 1, a number: never coerced to a key id
		"jwk_header":    &loadKey(t, "attacker_key.pem").PublicKey, // the embedded key is never trusted
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzVerify", name))
		if err != nil {
			t.Fatal(err)
		}
		_, lit, _ := strings.Cut(string(b), "string(")
		tok, err := strconv.Unquote(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(lit), ")")))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		parts := strings.Split(tok, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if rsa.VerifyPKCS1v15(signer, crypto.SHA256, digest[:], sig) != nil {
			t.Errorf("seed %s: its signature does not verify, so it never reaches its defence", name)
		}
		if _, err := v.Verify(t.Context(), tok); !errors.Is(err, tokenauth.ErrInvalidToken) {
			t.Errorf("seed %s: Verify = %v, want ErrInvalidToken", name, err)
		}
	}
}
