package keys

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cofferhq/coffer/pkg/accesstoken"
)

// Issuer signs RFC 9068 access tokens with the Manager's active key.
type Issuer struct {
	keys     *Manager
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// NewIssuer returns an Issuer. ttl is the access token lifetime.
func NewIssuer(m *Manager, issuer, audience string, ttl time.Duration, now func() time.Time) *Issuer {
	if now == nil {
		now = time.Now
	}
	return &Issuer{keys: m, issuer: issuer, audience: audience, ttl: ttl, now: now}
}

// TTL is the access token lifetime.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Issue signs an access token for subject with the given scopes and roles (the roles claim,
// accesstoken.ClaimRoles; none for most tokens). username fills the preferred_username claim
// of a user's token; "" (a client's own token) leaves it out.
func (i *Issuer) Issue(_ context.Context, subject, username, clientID string, scopes []string, roles ...string) (string, time.Duration, error) {
	k, err := i.keys.SigningKey()
	if err != nil {
		return "", 0, err
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", 0, fmt.Errorf("keys: %w", err)
	}
	now := i.now().Truncate(time.Second)
	claims := accesstoken.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{i.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(i.ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		},
		Scope:    strings.Join(scopes, " "),
		ClientID: clientID,
		Roles:    roles,

		PreferredUsername: username,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["typ"] = accesstoken.Type
	t.Header["kid"] = k.ID
	s, err := t.SignedString(k.Private)
	if err != nil {
		return "", 0, fmt.Errorf("keys: sign: %w", err)
	}
	return s, i.ttl, nil
}
