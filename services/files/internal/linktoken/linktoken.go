// Package linktoken signs and verifies the tokens of signed download links: HS256 JWTs under
// a key every file node shares, with their own typ and audience so that a link token is never
// an access token (RS256, at+jwt) and an access token is never a link.
package linktoken

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

const (
	// Type is the JOSE typ header of a link token.
	Type = "coffer-link+jwt"
	// Audience is the aud of every link token.
	Audience = "coffer-files-link"
	// MinKeyBytes is the shortest signing key accepted (the HS256 output size).
	MinKeyBytes = 32
	// MaxTokenBytes bounds a token before parsing.
	MaxTokenBytes = 2048
)

// ErrInvalid means the token is not a genuine, current link token.
var ErrInvalid = errors.New("invalid link token")

// Signer implements files.LinkSigner.
type Signer struct {
	key []byte
}

var _ files.LinkSigner = (*Signer)(nil)

type claims struct {
	jwt.RegisteredClaims
	LinkID string `json:"lid"`
	SHA256 string `json:"sha256"` // base64url
}

// New returns a Signer for key, which must hold at least MinKeyBytes bytes.
func New(key []byte) (*Signer, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("linktoken: key must be at least %d bytes", MinKeyBytes)
	}
	return &Signer{key: key}, nil
}

// Sign implements files.LinkSigner.
func (s *Signer) Sign(c files.LinkClaims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        c.JTI,
			Subject:   c.FileID.String(),
			Audience:  jwt.ClaimStrings{Audience},
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
		},
		LinkID: c.LinkID.String(),
		SHA256: base64.RawURLEncoding.EncodeToString(c.SHA256),
	})
	t.Header["typ"] = Type
	return t.SignedString(s.key)
}

// Verify implements files.LinkSigner.
func (s *Signer) Verify(token string, now time.Time) (files.LinkClaims, error) {
	if len(token) > MaxTokenBytes || strings.Count(token, ".") != 2 {
		return files.LinkClaims{}, fmt.Errorf("%w: malformed", ErrInvalid)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var c claims
	_, err := p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != Type {
			return nil, errors.New("typ is not " + Type)
		}
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New("crit header not supported")
		}
		return s.key, nil
	})
	if err != nil {
		return files.LinkClaims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	fid, err1 := uuid.Parse(c.Subject)
	lid, err2 := uuid.Parse(c.LinkID)
	sum, err3 := base64.RawURLEncoding.DecodeString(c.SHA256)
	if err1 != nil || err2 != nil || err3 != nil || len(sum) != 32 || len(c.ID) < 22 {
		return files.LinkClaims{}, fmt.Errorf("%w: bad claims", ErrInvalid)
	}
	return files.LinkClaims{LinkID: lid, FileID: fid, SHA256: sum, JTI: c.ID, IssuedAt: c.IssuedAt.Time, ExpiresAt: c.ExpiresAt.Time}, nil
}
