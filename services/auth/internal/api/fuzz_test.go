package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// FuzzTokenEndpoint sends arbitrary form bodies and Authorization headers to the token and
// revocation endpoints: the answer is always a 200 or a well-formed 4xx OAuth error, never
// a 5xx.
func FuzzTokenEndpoint(f *testing.F) {
	seeds := []struct{ body, authz string }{
		{"grant_type=client_credentials", "Basic c3ZjOnNlY3JldA=="},
		{"grant_type=refresh_token&refresh_token=" + strings.Repeat("A", 43), ""},
		{"grant_type=client_credentials&client_id=svc&client_secret=%zz", ""},
		{"grant_type=refresh_token&refresh_token=x&refresh_token=y", ""},
		{"grant_type=password&username=a&password=b", "Bearer x"},
		{"grant_type=client_credentials&scope=files%3Aread%20files%3Aread%20admin", "Basic %%%"},
		{"token=abc&token_type_hint=access_token", ""},
		{"%", "Basic " + strings.Repeat("A", 5000)},
		{"grant_type=client_credentials", "Basic OnNlY3JldA=="},
	}
	for _, s := range seeds {
		f.Add(s.body, s.authz)
	}
	fx := newFixture(f, auth.Config{})
	f.Fuzz(func(t *testing.T, body, authz string) {
		fx.t = t
		for _, path := range []string{"/oauth2/token", "/oauth2/revoke"} {
			req, _ := http.NewRequest("POST", fx.srv.URL+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if authz != "" && !strings.ContainsAny(authz, "\r\n\x00") {
				req.Header.Set("Authorization", authz)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return // the client refused to send it
			}
			var e struct {
				Error string `json:"error"`
			}
			decErr := json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Fatalf("%s: %d for body %q, Authorization %q", path, resp.StatusCode, body, authz)
			}
			if resp.StatusCode >= 400 && (decErr != nil || e.Error == "") {
				t.Fatalf("%s: %d without an OAuth error body", path, resp.StatusCode)
			}
		}
	})
}
