package keys_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/cofferhq/coffer/services/auth/internal/keys"
)

// memStore is enough of a keys.Store to benchmark signing without a database.
type memStore struct{ keys []keys.Sealed }

func (s *memStore) ListKeys(context.Context) ([]keys.Sealed, error) { return s.keys, nil }
func (s *memStore) InsertActiveIfNone(_ context.Context, k keys.Sealed) (bool, error) {
	s.keys = append(s.keys, k)
	return true, nil
}
func (s *memStore) InsertNextIfNone(context.Context, keys.Sealed) (bool, error) { return false, nil }
func (s *memStore) Promote(context.Context, string, string, time.Time) (bool, error) {
	return false, nil
}
func (s *memStore) ScheduleNext(context.Context, string, time.Time) error { return nil }
func (s *memStore) RemoveRetired(context.Context, time.Time) ([]string, error) {
	return nil, nil
}

// BenchmarkIssue is the cost of one access token (claims, JSON, RS256), in parallel on all
// cores; compare with BenchmarkRawRSASign.
func BenchmarkIssue(b *testing.B) {
	kek := make([]byte, 32)
	rand.Read(kek)
	m, err := keys.NewManager(&memStore{}, keys.Options{KEK: kek})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Bootstrap(context.Background()); err != nil {
		b.Fatal(err)
	}
	iss := keys.NewIssuer(m, "https://auth.example", "coffer-files", 15*time.Minute, nil)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := iss.Issue(context.Background(), "3f1c0a9e-2b7d-4e55-9a65-1f0e6c2d7b10", "alice", "coffer", []string{"files:read", "files:write"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRawRSASign is the reference: a bare RSA-2048 PKCS#1 v1.5 signature of a SHA-256
// digest, in parallel on all cores.
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
