package keys_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/services/auth/internal/keys"
	"github.com/cofferhq/coffer/services/auth/internal/postgres"
)

// RFC 7638 section 3.1's example key and thumbprint.
func TestThumbprintRFC7638Example(t *testing.T) {
	n, _ := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	if got, want := keys.Thumbprint(pub), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("Thumbprint = %s, want %s", got, want)
	}
}

func kek() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func bootManager(t *testing.T, db *postgres.DB, k []byte) *keys.Manager {
	t.Helper()
	return newManager(t, db, k, &clock{t: time.Now()})
}

// Replicas bootstrapping at the same moment agree on one active key.
func TestBootstrapConcurrentReplicasShareOneKey(t *testing.T) {
	_, db := newDB(t)
	k := kek()
	var wg sync.WaitGroup
	ms := make([]*keys.Manager, 4)
	for i := range ms {
		ms[i] = bootManager(t, db, k)
		wg.Go(func() {
			if err := ms[i].Bootstrap(context.Background()); err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	first, _ := ms[0].SigningKey()
	for i, m := range ms {
		got, err := m.SigningKey()
		if err != nil || got.ID != first.ID {
			t.Fatalf("replica %d signs with %v (%v), replica 0 with %s", i, got, err, first.ID)
		}
		body, _ := m.JWKS()
		var set struct{ Keys []map[string]any }
		json.Unmarshal(body, &set)
		if len(set.Keys) != 1 {
			t.Fatalf("replica %d publishes %d keys, want 1", i, len(set.Keys))
		}
	}
}

func TestJWKSHoldsOnlyPublicMembers(t *testing.T) {
	_, db := newDB(t)
	m := bootManager(t, db, kek())
	if err := m.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	body, etag := m.JWKS()
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) == 0 {
		t.Fatal("JWKS holds no keys")
	}
	// An allow-list, not a list of private members: whatever else a key may carry (d, p, q,
	// oth, a symmetric k, an x5c chain) is refused.
	public := map[string]bool{"kty": true, "use": true, "alg": true, "kid": true, "n": true, "e": true}
	for _, k := range set.Keys {
		for member := range k {
			if !public[member] {
				t.Errorf("JWKS key %v has member %q, not in the public allow-list", k["kid"], member)
			}
		}
		kid, _ := k["kid"].(string)
		if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || kid == "" {
			t.Fatalf("JWKS key = %v, want kty RSA, alg RS256, use sig, a string kid", k)
		}
		if _, ok := k["e"].(string); !ok {
			t.Fatalf("JWKS key %s has no exponent", kid)
		}
		n, _ := base64.RawURLEncoding.DecodeString(k["n"].(string))
		if len(n)*8 < 2048 {
			t.Fatalf("modulus is %d bits, want >= 2048", len(n)*8)
		}
	}
	if etag == "" {
		t.Fatal("no ETag")
	}
}

// The private key is unreadable without the key-encryption key.
func TestWrongKEKCannotOpenKeys(t *testing.T) {
	_, db := newDB(t)
	if err := bootManager(t, db, kek()).Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := bootManager(t, db, kek()).Bootstrap(context.Background())
	if !errors.Is(err, keys.ErrKEK) {
		t.Fatalf("Bootstrap with another KEK = %v, want ErrKEK", err)
	}
}

func TestNewManagerRejectsShortKEK(t *testing.T) {
	if _, err := keys.NewManager(nil, keys.Options{KEK: make([]byte, 16)}); !errors.Is(err, keys.ErrKEK) {
		t.Fatalf("NewManager(16-byte KEK) = %v, want ErrKEK", err)
	}
}
