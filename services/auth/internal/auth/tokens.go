package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/accesstoken"
)

// issueForUser signs an access token and stores a new refresh token built from rt.
func (s *Service) issueForUser(ctx context.Context, userID uuid.UUID, clientID string, scopes []string, rt RefreshToken, store func(context.Context, RefreshToken) error) (TokenResponse, error) {
	tu, err := s.tokenUser(ctx, userID, clientID)
	if err != nil {
		return TokenResponse{}, err
	}
	roles := tu.Roles
	at, ttl, err := s.issuer.Issue(ctx, userID.String(), tu.Username, clientID, scopes, roles...)
	if err != nil {
		return TokenResponse{}, err
	}
	secret, hash, err := NewRefreshSecret()
	if err != nil {
		return TokenResponse{}, err
	}
	rt.Hash = hash
	if err := store(ctx, rt); err != nil {
		return TokenResponse{}, err
	}
	s.auditIssue(ctx, userID.String(), clientID, "sign_in", scopes, roles)
	return TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second), RefreshToken: secret, Scope: strings.Join(scopes, " ")}, nil
}

// narrowScopes returns the requested scopes if each is in allowed, or def when none is asked.
func narrowScopes(requested, allowed, def []string) ([]string, error) {
	if len(requested) == 0 {
		return def, nil
	}
	out := make([]string, 0, len(requested))
	for _, r := range requested {
		if !slices.Contains(allowed, r) {
			return nil, &InvalidScopeError{Scope: r}
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// ParseScopes validates a space-separated scope list against the scopes Coffer knows.
func ParseScopes(s string) ([]string, error) {
	return narrowScopes(strings.Fields(s), accesstoken.AllScopes, nil)
}

// NewRefreshSecret returns a new opaque refresh token (256 random bits, base64url) and the
// SHA-256 hash under which it is stored.
func NewRefreshSecret() (token string, hash []byte, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("refresh token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashRefreshSecret(token), nil
}

// HashRefreshSecret is the stored form of a refresh token.
func HashRefreshSecret(token string) []byte { return HashSecret(token) }

// HashSecret is the stored form of a high-entropy secret (refresh token, client secret).
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// plausibleSecret rejects values that cannot be a secret Coffer issued, before any lookup.
func plausibleSecret(s string) bool { return len(s) >= 32 && len(s) <= 256 }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
