package auth_test

import (
	"context"
	"testing"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// BenchmarkClientCredentials is the whole client_credentials grant below HTTP: a client
// lookup in PostgreSQL, the secret check and an RS256 signature, in parallel. Compare with
// keys.BenchmarkRawRSASign: signing dominates.
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
// and stores the new one, plus an RS256 signature.
func BenchmarkRefresh(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b)
	svc := e.service(auth.Config{AccountAttempts: 1 << 30}, cheap)
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
