package e2e_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestAuthReplicasShareKeys: two auth processes on one database serve the same JWKS, and a
// token from either verifies against the JWKS of either (and on the file node); a refresh
// token from one works on the other.
func TestAuthReplicasShareKeys(t *testing.T) {
	// A long reuse interval, so that the retry below falls within it however loaded the machine.
	reuse := map[string]string{"COFFER_AUTH_REFRESH_REUSE_INTERVAL": "1m"}
	s := startStack(t, stackOptions{AuthEnv: reuse})
	second := s.StartAuth(reuse)
	c := s.client()
	c.signUp("alice")
	pw := "pw-alice-long-enough"
	fromFirst := c.loginTokens(s.Auth.URL, "alice", pw)
	fromSecond := c.loginTokens(second.URL, "alice", pw)

	set1, body1 := fetchJWKS(t, s.Auth.URL+"/.well-known/jwks.json")
	set2, body2 := fetchJWKS(t, second.URL+"/.well-known/jwks.json")
	if !bytes.Equal(body1, body2) {
		t.Fatalf("replicas serve different JWKS:\n%s\n%s", body1, body2)
	}
	for name, tok := range map[string]string{"first": fromFirst.AccessToken, "second": fromSecond.AccessToken} {
		for i, set := range []jose.JSONWebKeySet{set1, set2} {
			if _, err := verifyWithJose(set, tok, s.Auth.URL, "coffer-files"); err != nil {
				t.Fatalf("token from the %s replica against JWKS %d: %v", name, i+1, err)
			}
		}
		if r := c.do("GET", c.files+"/v1/files", nil, bearer(tok)); r.Status != http.StatusOK {
			t.Fatalf("file node refuses the %s replica's token: %d %s", name, r.Status, r.Body)
		}
	}

	// A refresh token issued by one replica is rotated by the other. A retry on the first
	// within the reuse interval gets the same successor (the replicas derive it alike); once
	// the successor is used, a replay is detected by the first.
	refresh := func(base, rt string) (response, tokens) {
		r := c.postForm(base+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, nil)
		var tk tokens
		if r.Status == http.StatusOK {
			r.JSON(t, &tk)
		}
		return r, tk
	}
	r, rotated := refresh(second.URL, fromFirst.RefreshToken)
	if r.Status != http.StatusOK {
		t.Fatalf("refresh on the other replica: %d %s", r.Status, r.Body)
	}
	if r, retried := refresh(s.Auth.URL, fromFirst.RefreshToken); r.Status != http.StatusOK || retried.RefreshToken != rotated.RefreshToken {
		t.Fatalf("retry on the first replica within the reuse interval: %d %s", r.Status, r.Body)
	}
	if r, _ := refresh(s.Auth.URL, rotated.RefreshToken); r.Status != http.StatusOK {
		t.Fatalf("refresh of the successor: %d %s", r.Status, r.Body)
	}
	r, _ = refresh(s.Auth.URL, fromFirst.RefreshToken)
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(r.Body, &e); r.Status != http.StatusBadRequest || e.Error != "invalid_grant" {
		t.Fatalf("replay on the first replica: %d %s", r.Status, r.Body)
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("OAuth error Content-Type %q", r.Header.Get("Content-Type"))
	}
}
