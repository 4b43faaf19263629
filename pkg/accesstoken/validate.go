package accesstoken

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes bounds the size of a token accepted for parsing.
const MaxTokenBytes = 8 << 10

// ErrInvalid is wrapped by every error Validate returns: the token is malformed, forged,
// expired or not meant for this audience. The wrapped text says why, for logs only.
var ErrInvalid = errors.New("invalid access token")

// Validator applies every check Coffer makes of an access token, so that the file service,
// the auth service and any Go verifier built on this package agree: RS256 only; typ at+jwt
// (RFC 9068); no crit; a bounded string kid; iss, aud; exp required, nbf and iat honoured with
// a leeway; claims of the right JSON types; no member named twice; a non-empty sub.
type Validator struct {
	parser *jwt.Parser
}

// DefaultLeeway is the clock skew the services tolerate unless configured otherwise.
const DefaultLeeway = 30 * time.Second

// NewValidator returns a Validator requiring issuer and audience. leeway tolerates clock skew
// on exp, nbf and iat and is taken as given (0: none; the services' configurations default
// to DefaultLeeway); now is the clock (nil: time.Now).
func NewValidator(issuer, audience string, leeway time.Duration, now func() time.Time) *Validator {
	if now == nil {
		now = time.Now
	}
	return &Validator{parser: jwt.NewParser(
		jwt.WithValidMethods([]string{Algorithm}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(now),
	)}
}

// Validate verifies raw, asking key for the verification key once the header has passed the
// checks above (key must take keys only from a trusted set, never from the token), and returns
// the claims.
func (v *Validator) Validate(raw string, key jwt.Keyfunc) (*Claims, error) {
	if len(raw) > MaxTokenBytes || strings.Count(raw, ".") != 2 {
		return nil, fmt.Errorf("%w: malformed", ErrInvalid)
	}
	var sc strictClaims
	_, err := v.parser.ParseWithClaims(raw, &sc, func(t *jwt.Token) (any, error) {
		if err := CheckHeader(t.Header); err != nil {
			return nil, err
		}
		return key(t)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	claims := sc.accessClaims()
	if claims.Subject == "" {
		return nil, fmt.Errorf("%w: no sub", ErrInvalid)
	}
	// Only now, with the signature verified: a forged token costs no extra parsing.
	if err := checkDuplicates(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return claims, nil
}

// CheckHeader enforces the RFC 9068 typ and refuses headers that would change how the token
// is processed: crit (RFC 7515 section 4.1.11: unknown extensions must be rejected) and a kid
// that is not a short string. Key-carrying headers (jwk, jku, x5u, x5c) are never read.
func CheckHeader(h map[string]any) error {
	typ, _ := h["typ"].(string)
	if !strings.EqualFold(typ, Type) && !strings.EqualFold(typ, "application/"+Type) {
		return errors.New("typ is not at+jwt")
	}
	if _, ok := h["crit"]; ok {
		return errors.New("crit header not supported")
	}
	if kid, ok := h["kid"]; ok {
		s, isString := kid.(string)
		if !isString || s == "" || len(s) > 128 {
			return errors.New("bad kid")
		}
	}
	return nil
}
