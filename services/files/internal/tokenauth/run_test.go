package tokenauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/services/files/internal/tokenauth"
)

// waitsLog records the "in" attribute of every "fetch jwks; retrying" log line.
type waitsLog struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (l *waitsLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *waitsLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *waitsLog) WithGroup(string) slog.Handler            { return l }
func (l *waitsLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "fetch jwks; retrying" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "in" {
			l.mu.Lock()
			l.waits = append(l.waits, a.Value.Duration())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *waitsLog) got() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.waits...)
}

// TestRunBacksOffWhileAuthIsDown: a node started while the auth service is down retries the
// JWK Set with doubling waits from 200 ms (so it does not hammer auth), and Run returns when
// its context ends before any key arrived.
func TestRunBacksOffWhileAuthIsDown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no key yet", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	log := &waitsLog{}
	v, err := tokenauth.New(tokenauth.Options{JWKSURL: srv.URL, Issuer: issuer, Audience: audience, Logger: slog.New(log)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); v.Run(ctx) }()
	waitFor(t, func() bool { return len(log.got()) >= 2 })
	if got := log.got()[:2]; got[0] != 200*time.Millisecond || got[1] != 400*time.Millisecond {
		t.Errorf("waits between JWKS attempts = %v, want [200ms 400ms]", got)
	}
	if v.Ready(ctx) {
		t.Error("ready although the JWK Set never loaded")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestRunRetriesAnEmptyKeySet: a JWK Set without keys is not a loaded one: the verifier
// stays not ready, keeps asking, and becomes ready once a key is published.
func TestRunRetriesAnEmptyKeySet(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks := &switchableJWKS{}
	jwks.set(t)
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		jwks.ServeHTTP(w, r)
	}))
	defer srv.Close()
	v, err := tokenauth.New(tokenauth.Options{JWKSURL: srv.URL, Issuer: issuer, Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go v.Run(ctx)
	waitFor(t, func() bool { return fetches.Load() >= 2 })
	if v.Ready(ctx) {
		t.Fatal("ready with an empty JWK Set")
	}
	if _, err := v.Verify(ctx, "a.b.c"); !errors.Is(err, tokenauth.ErrNotReady) {
		t.Fatalf("Verify with an empty JWK Set = %v, want ErrNotReady", err)
	}
	jwks.set(t, &key.PublicKey)
	waitFor(t, func() bool { return v.Ready(ctx) })
	if _, err := v.Verify(ctx, sign(t, key, jwt.SigningMethodRS256, nil, validClaims())); err != nil {
		t.Fatalf("valid token rejected after the key was published: %v", err)
	}
}

// TestEmptiedKeySetIsNotReady: once a refresh finds no keys (all revoked), the node stops
// reporting ready.
func TestEmptiedKeySetIsNotReady(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks := &switchableJWKS{}
	jwks.set(t, &key.PublicKey)
	srv := httptest.NewServer(jwks)
	defer srv.Close()
	v, err := tokenauth.New(tokenauth.Options{JWKSURL: srv.URL, Issuer: issuer, Audience: audience, RefreshInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runReady(t, v)
	jwks.set(t)
	waitFor(t, func() bool { return !v.Ready(context.Background()) })
}

// roundTripFunc lets a test answer requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestOptionsClientIsUsed: the JWK Set is fetched with the configured client (its transport
// carries the fetch metrics and any proxy settings), not a default one.
func TestOptionsClientIsUsed(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks := &switchableJWKS{}
	jwks.set(t, &key.PublicKey)
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		jwks.ServeHTTP(rec, r)
		return rec.Result(), nil
	})}
	// The host does not resolve: only the configured transport can answer.
	v, err := tokenauth.New(tokenauth.Options{JWKSURL: "http://auth.invalid/jwks", Issuer: issuer, Audience: audience, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	runReady(t, v)
}

// TestTokenAtSizeLimit: a valid token of exactly MaxTokenBytes is verified (and remembered);
// one byte more is refused before parsing.
func TestTokenAtSizeLimit(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv, _ := jwksServer(t, &key.PublicKey)
	v := startVerifier(t, srv.URL)
	// An RS256 signature is always 342 characters: find the jti (and, since base64 skips
	// some lengths, a header parameter) that brings the signed token to the limit.
	const sigLen = 342
	var tok string
	for pad := 0; pad < 4 && tok == ""; pad++ {
		for n := 1; n < tokenauth.MaxTokenBytes; n++ {
			unsigned := jwt.NewWithClaims(jwt.SigningMethodRS256, with(validClaims(), "jti", strings.Repeat("j", n)))
			unsigned.Header["typ"], unsigned.Header["kid"], unsigned.Header["x"] = accesstoken.Type, kid, strings.Repeat("x", pad)
			s, err := unsigned.SigningString()
			if err != nil {
				t.Fatal(err)
			}
			if l := len(s) + 1 + sigLen; l == tokenauth.MaxTokenBytes {
				tok = sign(t, key, jwt.SigningMethodRS256, map[string]any{"x": strings.Repeat("x", pad)}, with(validClaims(), "jti", strings.Repeat("j", n)))
				break
			} else if l > tokenauth.MaxTokenBytes {
				break
			}
		}
	}
	if len(tok) != tokenauth.MaxTokenBytes {
		t.Fatalf("built a token of %d bytes, want %d", len(tok), tokenauth.MaxTokenBytes)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("token of exactly %d bytes: %v, want accepted", len(tok), err)
	}
	if _, err := v.Verify(context.Background(), tok+"A"); !errors.Is(err, tokenauth.ErrInvalidToken) {
		t.Fatalf("token of %d bytes: %v, want ErrInvalidToken", len(tok)+1, err)
	}
}

// TestVerifiedTokensAreRemembered: a verified token is cached (the second Verify skips the
// RSA check), a refused one is not.
func TestVerifiedTokensAreRemembered(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv, _ := jwksServer(t, &key.PublicKey)
	v := startVerifier(t, srv.URL)
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(t, other, jwt.SigningMethodRS256, nil, validClaims())); err == nil {
		t.Fatal("token of another key accepted")
	}
	if n := v.CachedTokens(); n != 0 {
		t.Fatalf("%d tokens cached after a refused one, want 0", n)
	}
	for i := range 2 {
		if _, err := v.Verify(ctx, sign(t, key, jwt.SigningMethodRS256, nil, with(validClaims(), "jti", fmt.Sprint(i)))); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.CachedTokens(); n != 2 {
		t.Fatalf("%d tokens cached after two verified ones, want 2", n)
	}
}
