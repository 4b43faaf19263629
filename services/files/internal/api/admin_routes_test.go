package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/pkg/accesstoken"
)

// roleVerifier accepts three fixed tokens, each naming its subject: "user" and "other", with
// every files scope, and "admin", with the admin role too. The real verifier (tokenauth) is tested on its own; this test is about
// which routes ask for what.
type roleVerifier struct{}

func (roleVerifier) Verify(_ context.Context, raw string) (*accesstoken.Claims, error) {
	c := &accesstoken.Claims{Scope: strings.Join(accesstoken.AllScopes, " ")}
	c.Subject = raw
	switch raw {
	case "user", "other":
	case "admin":
		c.Roles = []string{accesstoken.RoleAdmin}
	default:
		return nil, errors.New("unknown token")
	}
	return c, nil
}

// TestAdminRoutesRefuseNonAdmins walks every /v1/admin route the router holds (so a route
// added later is covered): no token 401, a token without the admin role 403 admin_required.
func TestAdminRoutesRefuseNonAdmins(t *testing.T) {
	s := NewServer(discard, nil, roleVerifier{}, nil, Options{})
	routes := s.AdminRoutes()
	if len(routes) < 3 {
		t.Fatalf("only %d admin routes: %v", len(routes), routes)
	}
	for _, rt := range routes {
		path := strings.NewReplacer(":user_id", "u1", ":id", "00000000-0000-0000-0000-000000000001").Replace(rt[1])
		t.Run(rt[0]+" "+rt[1], func(t *testing.T) {
			for _, tc := range []struct {
				auth   string
				status int
				code   string
			}{
				{"", http.StatusUnauthorized, "unauthorized"},
				{"Bearer forged", http.StatusUnauthorized, "invalid_token"},
				{"Bearer user", http.StatusForbidden, codeAdminRequired},
			} {
				req := httptest.NewRequest(rt[0], path, strings.NewReader(`{}`))
				req.Header.Set("Content-Type", "application/json")
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if rec.Code != tc.status || !strings.Contains(rec.Body.String(), `"`+tc.code+`"`) {
					t.Errorf("%q: %d %s, want %d %s", tc.auth, rec.Code, rec.Body, tc.status, tc.code)
				}
			}
			// The admin passes the check (what the route then answers depends on its deps).
			req := httptest.NewRequest(rt[0], path, strings.NewReader(`{}`))
			req.Header.Set("Authorization", "Bearer admin")
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
				t.Errorf("admin: %d %s", rec.Code, rec.Body)
			}
		})
	}
}
