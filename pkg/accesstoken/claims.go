package accesstoken

import (
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// strictClaims decodes an access token's claims, refusing values of the wrong JSON type that
// golang-jwt's own types accept: its NumericDate reads "exp":"9999999999" (a string) and any
// float such as 1e300. Identifiers must be strings (a number fails to decode).
type strictClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt *strictDate      `json:"exp"`
	NotBefore *strictDate      `json:"nbf"`
	IssuedAt  *strictDate      `json:"iat"`
	ID        string           `json:"jti"`
	Scope     string           `json:"scope"`
	ClientID  string           `json:"client_id"`
	Roles     []string         `json:"roles"`
	// A string or absent: a number, array or object fails to decode.
	PreferredUsername string `json:"preferred_username"`
}

// maxNumericDate is the year 5138: far beyond any real token, far below float overflow.
const maxNumericDate = 1e11

// strictDate is a NumericDate that must be a JSON number in [0, maxNumericDate].
type strictDate struct{ jwt.NumericDate }

var errClaimType = errors.New("time claim is not a number in range")

func (d *strictDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] == '"' {
		return errClaimType
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f < 0 || f > maxNumericDate || math.IsNaN(f) {
		return errClaimType
	}
	sec, frac := math.Modf(f)
	d.Time = time.Unix(int64(sec), int64(frac*1e9)).Truncate(jwt.TimePrecision)
	return nil
}

func (d *strictDate) numeric() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &d.NumericDate
}

func (c *strictClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return c.ExpiresAt.numeric(), nil
}
func (c *strictClaims) GetNotBefore() (*jwt.NumericDate, error) { return c.NotBefore.numeric(), nil }
func (c *strictClaims) GetIssuedAt() (*jwt.NumericDate, error)  { return c.IssuedAt.numeric(), nil }
func (c *strictClaims) GetIssuer() (string, error)              { return c.Issuer, nil }
func (c *strictClaims) GetSubject() (string, error)             { return c.Subject, nil }
func (c *strictClaims) GetAudience() (jwt.ClaimStrings, error)  { return c.Audience, nil }

func (c *strictClaims) accessClaims() *Claims {
	return &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, ID: c.ID,
			ExpiresAt: c.ExpiresAt.numeric(), NotBefore: c.NotBefore.numeric(), IssuedAt: c.IssuedAt.numeric(),
		},
		Scope:    c.Scope,
		ClientID: c.ClientID,
		Roles:    c.Roles,

		PreferredUsername: c.PreferredUsername,
	}
}
