// Package passhash hashes and checks the passwords of links and file requests with argon2id
// (RFC 9106) in the PHC string format, at OWASP's minimum cost (m=19 MiB, t=2, p=1). At most a
// fixed number of hashes run at once, so a flood of guesses queues instead of taking the
// node's memory.
package passhash

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Cost of one hash: OWASP's argon2id minimum.
const (
	memoryKiB = 19 * 1024
	timeCost  = 2
	threads   = 1
	keyLen    = 32
	saltLen   = 16
)

// Hasher implements files.PasswordHasher.
type Hasher struct {
	slots chan struct{}
	dummy string // checked against when there is no hash, so both cases cost the same
}

var _ files.PasswordHasher = (*Hasher)(nil)

// New returns a Hasher running at most parallel hashes at once (at least 1).
func New(parallel int) *Hasher {
	h := &Hasher{slots: make(chan struct{}, max(parallel, 1))}
	h.dummy, _ = h.hash([]byte("coffer dummy password"))
	return h
}

// Hash implements files.PasswordHasher.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash([]byte(password))
}

func (h *Hasher) hash(pw []byte) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("passhash: salt: %w", err)
	}
	key := argon2.IDKey(pw, salt, timeCost, memoryKiB, threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, timeCost, threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify implements files.PasswordHasher. An empty hash is checked against a dummy one (and
// fails), so an unknown link costs the same as a wrong password.
func (h *Hasher) Verify(ctx context.Context, hash, password string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	known := hash != ""
	if !known {
		hash = h.dummy
	}
	var v, m, t, p int
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errMalformed
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, errMalformed
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m < 1 || m > 1<<21 || t < 1 || t > 16 || p < 1 || p > 16 {
		return false, errMalformed
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, errMalformed
	}
	got := argon2.IDKey([]byte(password), salt, uint32(t), uint32(m), uint8(p), uint32(len(want)))
	return known && subtle.ConstantTimeCompare(got, want) == 1, nil
}

var errMalformed = errors.New("passhash: malformed hash")

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("passhash: %w: %w", files.ErrUnavailable, ctx.Err())
	}
}

func (h *Hasher) release() { <-h.slots }
