package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// FuzzAuthorize sends arbitrary query strings (GET) and form bodies (POST) to the
// authorization endpoint: never a 5xx, and never a redirect anywhere but the registered
// redirect URI.
func FuzzAuthorize(f *testing.F) {
	const cb = "https://app.example/cb"
	ok := "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=s&code_challenge=" + strings.Repeat("a", 43) + "&code_challenge_method=S256"
	for _, s := range []string{
		ok, ok + "&scope=files%3Aread", ok + "&scope=admin", ok + "&redirect_uri=https%3A%2F%2Fevil.example",
		strings.Replace(ok, "app.example", "evil.example", 1), strings.Replace(ok, "S256", "plain", 1),
		strings.Replace(ok, "client_id=app", "client_id=", 1), "response_type=token&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
		"%", "redirect_uri=javascript:alert(1)&client_id=app", ok + "&csrf_token=x&username=a&password=b", ok + "&state=" + strings.Repeat("x", 2000),
	} {
		f.Add(s)
	}
	fx := newFixture(f, auth.Config{})
	if _, _, err := fx.svc.RegisterClient(context.Background(), auth.ClientSpec{ID: "app", Public: true, Scopes: []string{"files:read"}, RedirectURIs: []string{cb}}); err != nil {
		f.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	f.Fuzz(func(t *testing.T, q string) {
		for _, post := range []bool{false, true} {
			var req *http.Request
			var err error
			if post {
				req, err = http.NewRequest("POST", fx.srv.URL+"/oauth2/authorize", strings.NewReader(q))
				if err == nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
			} else {
				req, err = http.NewRequest("GET", fx.srv.URL+"/oauth2/authorize?"+q, nil)
			}
			if err != nil {
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				return // the client refused to send it
			}
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Fatalf("post=%v %q: %d", post, q, resp.StatusCode)
			}
			if loc := resp.Header.Get("Location"); loc != "" && !strings.HasPrefix(loc, cb+"?") {
				t.Fatalf("post=%v %q: redirected to %q", post, q, loc)
			}
		}
	})
}
