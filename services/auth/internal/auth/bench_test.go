package auth_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// BenchmarkClientCredentials is the whole client_credentials grant below HTTP: a client
// lookup in PostgreSQL, the secret check and an RS256 signature, in parallel. Its baseline is
// BenchmarkRawRSASign below (docs/PERFORMANCE.md: goal 0.9× of raw signing, floor 0.7×).
func BenchmarkClientCredentials(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b)
	svc := e.service(auth.Config{}, cheap)
	_, secret, err := svc.CreateClient(ctx, "bench", []string{"files:read", "files:write"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.ClientCredentials(ctx, "bench", secret, []string{"files:read"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRefresh is the refresh_token grant: one transaction that uses up the old token
// and stores the new one, plus an RS256 signature. Baseline: BenchmarkRawRSASign.
func BenchmarkRefresh(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b)
	svc := e.service(auth.Config{PairAttempts: 1 << 30, AccountAttempts: 1 << 30}, cheap)
	pw := e.user(svc, "bench")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		tok, err := svc.Login(ctx, auth.LoginRequest{Username: "bench", Password: pw, Address: "192.0.2.1"})
		if err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			if tok, err = svc.Refresh(ctx, tok.RefreshToken, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRawRSASign is the baseline of the grants above: a bare RSA-2048 PKCS#1 v1.5
// signature of a SHA-256 digest, in parallel on all cores, the most tokens this machine
// could sign per second with no database and no JSON at all.
func BenchmarkRawRSASign(b *testing.B) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("header.payload"))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
