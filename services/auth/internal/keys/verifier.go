package keys

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cofferhq/coffer/pkg/accesstoken"
)

// MaxTokenBytes bounds the size of an access token accepted for parsing.
const MaxTokenBytes = 8 << 10

// Verifier checks access tokens that this auth service issued, against the keys the Manager
// holds (the same keys its JWK Set publishes): no network, no JWKS fetch.
type Verifier struct {
	keys   *Manager
	parser *jwt.Parser
}

// NewVerifier returns a Verifier requiring iss issuer and aud audience. leeway tolerates
// clock skew on exp, nbf and iat (0: 30s); now is the clock (nil: time.Now).
func NewVerifier(m *Manager, issuer, audience string, leeway time.Duration, now func() time.Time) *Verifier {
	if leeway == 0 {
		leeway = 30 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	return &Verifier{keys: m, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{accesstoken.Algorithm}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(now),
	)}
}

// Verify checks a raw access token and returns its claims. Every failure is an error whose
// text says why (for logs); callers treat them all alike.
func (v *Verifier) Verify(_ context.Context, raw string) (*accesstoken.Claims, error) {
	if len(raw) > MaxTokenBytes || strings.Count(raw, ".") != 2 {
		return nil, errors.New("keys: malformed token")
	}
	var claims accesstoken.Claims
	_, err := v.parser.ParseWithClaims(raw, &claims, v.keyFor)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if claims.Subject == "" {
		return nil, errors.New("keys: token has no sub")
	}
	return &claims, nil
}

// keyFor enforces the RFC 9068 typ, refuses crit, and picks the public key the kid names
// among the loaded keys. Keys carried in the token (jwk, jku, x5u) are never consulted.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	typ, _ := t.Header["typ"].(string)
	if !strings.EqualFold(typ, accesstoken.Type) && !strings.EqualFold(typ, "application/"+accesstoken.Type) {
		return nil, errors.New("typ is not at+jwt")
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, errors.New("crit header not supported")
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errors.New("no kid")
	}
	for _, k := range v.keys.Keys() {
		if k.ID == kid {
			return &k.Private.PublicKey, nil
		}
	}
	return nil, errors.New("unknown kid")
}
