package tokenauth_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/cofferhq/coffer/services/files/internal/tokenauth"
)

// switchableJWKS serves whichever key set was stored last.
type switchableJWKS struct{ body atomic.Pointer[[]byte] }

func (s *switchableJWKS) set(t *testing.T, pubs ...*rsa.PublicKey) {
	t.Helper()
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, p := range pubs {
		jwk, err := jwkset.NewJWKFromKey(p, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgRS256, KID: kid, USE: jwkset.UseSig}})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	b, _ := json.Marshal(set)
	s.body.Store(&b)
}

func (s *switchableJWKS) ServeHTTP(w http.ResponseWriter, r *http.Request) { w.Write(*s.body.Load()) }

// A token verified (and cached) while its key was published stops verifying once the key
// leaves the JWK Set: the cache never outlives the key.
func TestCachedTokenStopsWhenKeyRemoved(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks := &switchableJWKS{}
	jwks.set(t, &key.PublicKey)
	srv := httptest.NewServer(jwks)
	defer srv.Close()
	v, err := tokenauth.New(tokenauth.Options{JWKSURL: srv.URL, Issuer: issuer, Audience: audience, RefreshInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go v.Run(ctx)
	waitFor(t, func() bool { return v.Ready(ctx) })

	tok := sign(t, key, jwt.SigningMethodRS256, nil, validClaims())
	for range 3 { // the first verifies, the rest hit the cache
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("valid token rejected: %v", err)
		}
	}
	jwks.set(t, &other.PublicKey) // same kid, another key: the old one is gone
	waitFor(t, func() bool {
		_, err := v.Verify(ctx, tok)
		return errors.Is(err, tokenauth.ErrInvalidToken)
	})
}

// A token signed by a key published since the cached tokens' snapshot of the JWK Set was
// taken (rotation under the same kid) verifies from the cache too: the snapshot only ever
// confirms a key, and a key it does not hold is asked of the JWK Set.
func TestCachedTokenOfANewKey(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	next, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks := &switchableJWKS{}
	jwks.set(t, &key.PublicKey)
	srv := httptest.NewServer(jwks)
	defer srv.Close()
	v, err := tokenauth.New(tokenauth.Options{JWKSURL: srv.URL, Issuer: issuer, Audience: audience, RefreshInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go v.Run(ctx)
	waitFor(t, func() bool { return v.Ready(ctx) })

	old := sign(t, key, jwt.SigningMethodRS256, nil, validClaims())
	for range 2 { // the second is a cached hit: it takes the snapshot
		if _, err := v.Verify(ctx, old); err != nil {
			t.Fatalf("valid token rejected: %v", err)
		}
	}
	jwks.set(t, &next.PublicKey)
	tok := sign(t, next, jwt.SigningMethodRS256, nil, validClaims())
	waitFor(t, func() bool { _, err := v.Verify(ctx, tok); return err == nil })
	for i := range 3 {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("cached verification %d of a token of the new key: %v", i+1, err)
		}
	}
}

func TestCachedTokenExpires(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv, _ := jwksServer(t, &key.PublicKey)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	v, err := tokenauth.New(tokenauth.Options{JWKSURL: srv.URL, Issuer: issuer, Audience: audience,
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go v.Run(ctx)
	waitFor(t, func() bool { return v.Ready(ctx) })
	tok := sign(t, key, jwt.SigningMethodRS256, nil, validClaims()) // exp in 5 minutes
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	now.Add(int64(6 * time.Minute)) // past exp and the 30s leeway
	if _, err := v.Verify(ctx, tok); !errors.Is(err, tokenauth.ErrInvalidToken) {
		t.Fatalf("expired cached token: %v, want ErrInvalidToken", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkRawRSAVerify is the baseline of the Verify benchmarks below, the reference that
// docs/PERFORMANCE.md sets their targets against (first sight ≤ 1.15×, cached ≤ 0.1×).
func BenchmarkRawRSAVerify(b *testing.B) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	sum := sha256.Sum256([]byte("header.payload"))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkVerify(b *testing.B, cacheSize int, distinct bool) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	t := &testing.T{}
	srv, _ := jwksServer(t, &key.PublicKey)
	v, _ := tokenauth.New(tokenauth.Options{JWKSURL: srv.URL, Issuer: issuer, Audience: audience, CacheSize: cacheSize})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go v.Run(ctx)
	for !v.Ready(ctx) {
		time.Sleep(time.Millisecond)
	}
	toks := make([]string, 1)
	if distinct {
		toks = make([]string, 256)
	}
	for i := range toks {
		toks[i] = sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "jti", fmt.Sprint(i)))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := v.Verify(ctx, toks[i%len(toks)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// First sight of a token: full parse and RSA verification (cache off).
func BenchmarkVerifyFirstSight(b *testing.B) { benchmarkVerify(b, -1, false) }

// A token seen before: served from the verified-token cache.
func BenchmarkVerifyCached(b *testing.B) { benchmarkVerify(b, 0, false) }
