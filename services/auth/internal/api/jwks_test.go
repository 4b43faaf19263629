package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// TestJWKSBeforeTheFirstKey: on a first start, before any key exists, the JWK Set is a 503
// that no cache keeps (no-store) rather than an empty 200 a cache could serve for its
// max-age; once the key exists it is served with its max-age.
func TestJWKSBeforeTheFirstKey(t *testing.T) {
	f := newFixtureKeys(t, auth.Config{}, false)
	srv := f.srv
	get := func() (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("before the first key: %d Cache-Control %q Retry-After %q %s", resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("Retry-After"), body)
	}
	if err := f.km.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, body = get()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "public, max-age=90" || !strings.Contains(body, `"kid"`) {
		t.Fatalf("after the first key: %d Cache-Control %q %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
}
