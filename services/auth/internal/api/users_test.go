package api_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"github.com/cofferhq/coffer/services/auth/internal/keys"
)

// TestLookupUser: GET /v1/users/{username} answers {"id","username"} for an enabled user,
// case-insensitively, only to a valid access token of ours with files:share; unknown,
// malformed and disabled usernames are all the same 404.
func TestLookupUser(t *testing.T) {
	f := newFixture(t, auth.Config{})
	ctx := context.Background()
	bob, err := f.svc.CreateUser(ctx, "bob", "bob-password-long")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateUser(ctx, "alice", "alice-password-long"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateUser(ctx, "dave", "dave-password-long"); err != nil {
		t.Fatal(err)
	}
	loginScope := func(user, pw, scope string) auth.TokenResponse {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"username": user, "password": pw, "scope": scope})
		r := f.do("POST", "/v1/login", "application/json", string(b), nil)
		var tok auth.TokenResponse
		if err := json.Unmarshal(r.body, &tok); r.status != 200 || err != nil {
			t.Fatalf("login %s: %d %s", user, r.status, r.body)
		}
		return tok
	}
	share := loginScope("alice", "alice-password-long", "files:read files:share")
	readOnly := loginScope("alice", "alice-password-long", "files:read")
	daveTok := loginScope("dave", "dave-password-long", "files:share")
	if err := f.svc.DisableUser(ctx, "dave"); err != nil {
		t.Fatal(err)
	}

	// Tokens this service must refuse.
	otherAudience, _, err := keys.NewIssuer(f.km, "https://auth.test", "someone-else", time.Minute, nil).Issue(ctx, "x", "", "coffer", []string{"files:share"})
	if err != nil {
		t.Fatal(err)
	}
	otherIssuer, _, _ := keys.NewIssuer(f.km, "https://evil.test", "coffer-files", time.Minute, nil).Issue(ctx, "x", "", "coffer", []string{"files:share"})
	expired, _, _ := keys.NewIssuer(f.km, "https://auth.test", "coffer-files", time.Minute, func() time.Time { return time.Now().Add(-time.Hour) }).Issue(ctx, "x", "", "coffer", []string{"files:share"})
	signing, err := f.km.SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	sign := func(method jwt.SigningMethod, typ, kid string, key any) string {
		t.Helper()
		now := time.Now()
		tok := jwt.NewWithClaims(method, accesstoken.Claims{
			RegisteredClaims: jwt.RegisteredClaims{Issuer: "https://auth.test", Subject: "x", Audience: jwt.ClaimStrings{"coffer-files"},
				ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now)},
			Scope: "files:share",
		})
		tok.Header["typ"] = typ
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	attacker, _ := rsa.GenerateKey(rand.Reader, 2048)
	goodHandMade := sign(jwt.SigningMethodRS256, "at+jwt", signing.ID, signing.Private)
	wrongTyp := sign(jwt.SigningMethodRS256, "JWT", signing.ID, signing.Private)
	foreignKey := sign(jwt.SigningMethodRS256, "at+jwt", signing.ID, attacker)
	hmacKid := sign(jwt.SigningMethodHS256, "at+jwt", signing.ID, []byte("secret"))
	none := sign(jwt.SigningMethodNone, "at+jwt", signing.ID, jwt.UnsafeAllowNoneSignatureType)

	tests := []struct {
		name       string
		path       string
		auth       string
		wantStatus int
		wantCode   string
		wantID     string
	}{
		{"found", "/v1/users/bob", "Bearer " + share.AccessToken, 200, "", bob.ID.String()},
		{"case-insensitive", "/v1/users/BoB", "Bearer " + share.AccessToken, 200, "", bob.ID.String()},
		{"scheme in any case", "/v1/users/bob", "bearer " + share.AccessToken, 200, "", bob.ID.String()},
		{"hand-made token with the real key", "/v1/users/bob", "Bearer " + goodHandMade, 200, "", bob.ID.String()},
		{"unknown", "/v1/users/nobody", "Bearer " + share.AccessToken, 404, "not_found", ""},
		{"malformed username", "/v1/users/b%20b", "Bearer " + share.AccessToken, 404, "not_found", ""},
		{"too long", "/v1/users/" + strings.Repeat("b", 300), "Bearer " + share.AccessToken, 404, "not_found", ""},
		{"disabled", "/v1/users/dave", "Bearer " + share.AccessToken, 404, "not_found", ""},
		{"no token", "/v1/users/bob", "", 401, "unauthorized", ""},
		{"basic", "/v1/users/bob", "Basic Ym9iOmJvYg==", 401, "unauthorized", ""},
		{"empty bearer", "/v1/users/bob", "Bearer ", 401, "unauthorized", ""},
		{"garbage", "/v1/users/bob", "Bearer abc.def.ghi", 401, "invalid_token", ""},
		{"refresh token", "/v1/users/bob", "Bearer " + share.RefreshToken, 401, "invalid_token", ""},
		{"other audience", "/v1/users/bob", "Bearer " + otherAudience, 401, "invalid_token", ""},
		{"other issuer", "/v1/users/bob", "Bearer " + otherIssuer, 401, "invalid_token", ""},
		{"expired", "/v1/users/bob", "Bearer " + expired, 401, "invalid_token", ""},
		{"typ JWT", "/v1/users/bob", "Bearer " + wrongTyp, 401, "invalid_token", ""},
		{"attacker key, real kid", "/v1/users/bob", "Bearer " + foreignKey, 401, "invalid_token", ""},
		{"HS256", "/v1/users/bob", "Bearer " + hmacKid, 401, "invalid_token", ""},
		{"alg none", "/v1/users/bob", "Bearer " + none, 401, "invalid_token", ""},
		{"huge token", "/v1/users/bob", "Bearer " + strings.Repeat("a.", 5000) + "a", 401, "invalid_token", ""},
		{"without files:share", "/v1/users/bob", "Bearer " + readOnly.AccessToken, 403, "insufficient_scope", ""},
		// A disabled user's unexpired token still verifies (tokens are stateless); the lookup
		// itself is harmless, and the token can do nothing the file service would not allow.
		{"disabled caller's token", "/v1/users/bob", "Bearer " + daveTok.AccessToken, 200, "", bob.ID.String()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.auth != "" {
				h["Authorization"] = tc.auth
			}
			r := f.do("GET", tc.path, "", "", h)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantStatus == 200 {
				var u struct{ ID, Username string }
				if err := json.Unmarshal(r.body, &u); err != nil || u.ID != tc.wantID || u.Username != "bob" {
					t.Fatalf("body %s, want id %s username bob", r.body, tc.wantID)
				}
				if cc := r.header.Get("Cache-Control"); cc != "no-store" {
					t.Fatalf("Cache-Control %q, want no-store", cc)
				}
				return
			}
			var p struct{ Code string }
			if err := json.Unmarshal(r.body, &p); err != nil || p.Code != tc.wantCode {
				t.Fatalf("body %s, want code %q", r.body, tc.wantCode)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Fatalf("Content-Type %q", ct)
			}
			wa := r.header.Get("WWW-Authenticate")
			switch tc.wantStatus {
			case http.StatusUnauthorized:
				if !strings.HasPrefix(wa, "Bearer") {
					t.Fatalf("WWW-Authenticate %q, want Bearer", wa)
				}
			case http.StatusForbidden:
				if !strings.Contains(wa, `error="insufficient_scope"`) || !strings.Contains(wa, "files:share") {
					t.Fatalf("WWW-Authenticate %q", wa)
				}
			}
		})
	}
}
