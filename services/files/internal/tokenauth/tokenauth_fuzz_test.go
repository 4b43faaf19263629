package tokenauth_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/cofferhq/coffer/services/files/internal/tokenauth"
)

// FuzzVerify: whatever the token, Verify never panics, and it never accepts a token whose
// RS256 signature does not verify, independently, under the one published key, or whose
// header is not alg RS256 / typ at+jwt.
func FuzzVerify(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go v.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for !v.Ready(ctx) {
		if time.Now().After(deadline) {
			f.Fatal("verifier never became ready")
		}
		time.Sleep(10 * time.Millisecond)
	}

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
		if herr != nil || json.Unmarshal(hb, &h) != nil || h["alg"] != "RS256" || !strings.EqualFold(h["typ"].(string), "at+jwt") && !strings.EqualFold(h["typ"].(string), "application/at+jwt") {
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
