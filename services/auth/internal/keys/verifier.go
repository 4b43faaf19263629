package keys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cofferhq/coffer/pkg/accesstoken"
)

// Verifier checks access tokens that this auth service issued, against the keys the Manager
// holds (the same keys its JWK Set publishes): no network, no JWKS fetch.
type Verifier struct {
	keys      *Manager
	validator *accesstoken.Validator
}

// NewVerifier returns a Verifier requiring iss issuer and aud audience. leeway tolerates
// clock skew on exp, nbf and iat, as given (0: none); now is the clock (nil: time.Now).
func NewVerifier(m *Manager, issuer, audience string, leeway time.Duration, now func() time.Time) *Verifier {
	return &Verifier{keys: m, validator: accesstoken.NewValidator(issuer, audience, leeway, now)}
}

// Verify checks a raw access token and returns its claims. Every failure is an error whose
// text says why (for logs); callers treat them all alike.
func (v *Verifier) Verify(_ context.Context, raw string) (*accesstoken.Claims, error) {
	claims, err := v.validator.Validate(raw, v.keyFor)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return claims, nil
}

// keyFor picks the public key the kid names among the loaded keys. Keys carried in the token
// (jwk, jku, x5u) are never consulted.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
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
