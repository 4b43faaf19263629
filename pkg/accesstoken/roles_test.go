package accesstoken_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cofferhq/coffer/pkg/accesstoken"
)

func TestRolesClaim(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sign := func(roles any) string {
		t.Helper()
		claims := jwt.MapClaims{"iss": "https://auth.test", "sub": "u1", "aud": "coffer-files", "exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "scope": "files:read"}
		if roles != nil {
			claims[accesstoken.ClaimRoles] = roles
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["typ"] = accesstoken.Type
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	v := accesstoken.NewValidator("https://auth.test", "coffer-files", 0, nil)
	keyfunc := func(*jwt.Token) (any, error) { return &key.PublicKey, nil }
	for _, tc := range []struct {
		name      string
		roles     any
		wantAdmin bool
		wantErr   bool
	}{
		{"no roles", nil, false, false},
		{"admin", []string{"admin"}, true, false},
		{"other role", []string{"auditor"}, false, false},
		{"admin among others", []string{"auditor", "admin"}, true, false},
		{"a string is not an array", "admin", false, true},
		{"case matters", []string{"Admin"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Validate(sign(tc.roles), keyfunc)
			if tc.wantErr {
				if !errors.Is(err, accesstoken.ErrInvalid) {
					t.Fatalf("Validate: err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.IsAdmin(); got != tc.wantAdmin {
				t.Errorf("IsAdmin() = %v, want %v (roles %v)", got, tc.wantAdmin, c.Roles)
			}
		})
	}
}
