// Package password hashes and verifies passwords with argon2id (RFC 9106), in the PHC string
// format that other tools (libsodium, passlib, argon2 CLI) read.
//
// The hasher bounds concurrent argon2 work: each hash costs Memory KiB, so a login storm
// waits for a slot (or gives up with ErrBusy) instead of exhausting memory.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"golang.org/x/crypto/argon2"
)

// Errors returned by Hasher.
var (
	// ErrMismatch means the password does not match the hash.
	ErrMismatch = errors.New("password: mismatch")
	// ErrTooLong means the password exceeds MaxLength bytes; it is rejected before any hashing.
	ErrTooLong = errors.New("password: too long")
	// ErrTooShort means the password is shorter than MinLength.
	ErrTooShort = errors.New("password: too short")
	// ErrBusy means no hashing slot became free before the context ended. It wraps
	// auth.ErrBusy, as the auth.PasswordHasher contract asks.
	ErrBusy = fmt.Errorf("password: hashing capacity exhausted: %w", auth.ErrBusy)
	// ErrMalformedHash means a stored hash is not an argon2id PHC string.
	ErrMalformedHash = errors.New("password: malformed hash")
)

// Length limits, in bytes: the auth domain's policy.
const (
	MinLength = auth.MinPasswordBytes
	MaxLength = auth.MaxPasswordBytes
)

var _ auth.PasswordHasher = (*Hasher)(nil)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	KeyLen  uint32
	SaltLen uint32
}

// DefaultParams meet OWASP's argon2id minimum (m=19 MiB, t=2, p=1).
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

// Hasher hashes and verifies passwords, running at most a fixed number of hashes at once.
type Hasher struct {
	params Params
	slots  chan struct{}
	dummy  string
}

// NewHasher returns a Hasher that runs at most concurrency hashes at once (at least 1).
func NewHasher(p Params, concurrency int) *Hasher {
	if concurrency < 1 {
		concurrency = 1
	}
	h := &Hasher{params: p, slots: make(chan struct{}, concurrency)}
	h.dummy = h.encode(p, make([]byte, p.SaltLen), argon2.IDKey([]byte("coffer-dummy"), make([]byte, p.SaltLen), p.Time, p.Memory, p.Threads, p.KeyLen))
	return h
}

// CheckLength rejects passwords outside [MinLength, MaxLength] without hashing them.
func CheckLength(pw string) error {
	switch {
	case len(pw) > MaxLength:
		return ErrTooLong
	case len(pw) < MinLength:
		return ErrTooShort
	}
	return nil
}

// Hash returns the PHC string of pw with a fresh salt.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := CheckLength(pw); err != nil {
		return "", err
	}
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	p := h.params
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return h.encode(p, salt, key), nil
}

// Verify checks pw against encoded. An empty encoded (unknown user) is checked against a
// dummy hash of the same cost, so the caller takes the same time either way, and returns
// ErrMismatch.
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) error {
	if len(pw) > MaxLength {
		return ErrTooLong
	}
	known := encoded != ""
	if !known {
		encoded = h.dummy
	}
	p, salt, want, err := decode(encoded)
	if err != nil {
		return err
	}
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 || !known {
		return ErrMismatch
	}
	return nil
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ErrBusy
	}
}

func (h *Hasher) release() { <-h.slots }

func (h *Hasher) encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func decode(s string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, ErrMalformedHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, ErrMalformedHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, ErrMalformedHash
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) == 0 {
		return p, nil, nil, ErrMalformedHash
	}
	return p, salt, key, nil
}
