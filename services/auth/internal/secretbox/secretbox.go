// Package secretbox seals small secrets the auth service must read back (TOTP seeds) with
// AES-256-GCM under a key derived from the key-encryption key for one purpose, so the same
// KEK never encrypts two kinds of data under one key.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// ErrOpen means a sealed value does not open: another key, other associated data, or
// tampered bytes.
var ErrOpen = errors.New("secretbox: cannot open")

// Box seals and opens values for one purpose.
type Box struct{ aead cipher.AEAD }

// New derives the purpose's key from kek (32 bytes) with HKDF-SHA256.
func New(kek []byte, purpose string) (*Box, error) {
	if len(kek) != 32 {
		return nil, errors.New("secretbox: the key-encryption key must be 32 bytes")
	}
	key, err := hkdf.Key(sha256.New, kek, nil, "coffer-auth secretbox "+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("secretbox: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plain bound to ad; the nonce leads the result.
func (b *Box) Seal(plain, ad []byte) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secretbox: nonce: %w", err)
	}
	return b.aead.Seal(nonce, nonce, plain, ad), nil
}

// Open decrypts a value Seal returned for the same ad; ErrOpen otherwise.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n+b.aead.Overhead() {
		return nil, ErrOpen
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
