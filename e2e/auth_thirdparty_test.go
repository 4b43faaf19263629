package e2e_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestThirdPartyVerifiesFromDiscovery plays a resource server built on go-jose (not the
// golang-jwt stack Coffer uses): knowing only the issuer, it reads the discovery document,
// fetches jwks_uri and verifies a user token and a service client token.
func TestThirdPartyVerifiesFromDiscovery(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.client()
	userToken := c.signUp("alice")
	secret := s.createClient("reporting", "files:read")
	r := c.postForm(s.Auth.URL+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, map[string]string{
		"Authorization": "Basic " + basicAuth("reporting", secret)})
	if r.Status != http.StatusOK {
		t.Fatalf("client_credentials: %d %s", r.Status, r.Body)
	}
	var svcTok tokens
	r.JSON(t, &svcTok)

	var doc struct {
		Issuer        string   `json:"issuer"`
		JWKSURI       string   `json:"jwks_uri"`
		TokenEndpoint string   `json:"token_endpoint"`
		Revocation    string   `json:"revocation_endpoint"`
		Grants        []string `json:"grant_types_supported"`
		Scopes        []string `json:"scopes_supported"`
		AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	}
	r = c.do("GET", s.Auth.URL+"/.well-known/openid-configuration", nil, nil)
	if err := json.Unmarshal(r.Body, &doc); r.Status != 200 || err != nil || doc.JWKSURI == "" {
		t.Fatalf("discovery: %d %s", r.Status, r.Body)
	}
	if doc.Issuer != s.Auth.URL || doc.TokenEndpoint != s.Auth.URL+"/oauth2/token" || doc.Revocation != s.Auth.URL+"/oauth2/revoke" {
		t.Fatalf("discovery endpoints %+v", doc)
	}
	set, _ := fetchJWKS(t, doc.JWKSURI)

	user, err := verifyWithJose(set, userToken, doc.Issuer, "coffer-files")
	if err != nil {
		t.Fatalf("go-jose rejects a user token: %v", err)
	}
	if user.Subject == "" || user.ClientID != "coffer" || !strings.Contains(user.Scope, "files:read") {
		t.Fatalf("user token claims %+v", user)
	}
	svc, err := verifyWithJose(set, svcTok.AccessToken, doc.Issuer, "coffer-files")
	if err != nil {
		t.Fatalf("go-jose rejects a client token: %v", err)
	}
	if svc.Subject != "client:reporting" || svc.ClientID != "reporting" || svc.Scope != "files:read" {
		t.Fatalf("client token claims sub=%q client_id=%q scope=%q", svc.Subject, svc.ClientID, svc.Scope)
	}

	// The same verifier refuses what it should, so the checks above mean something.
	parts := strings.Split(userToken, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	for name, check := range map[string]func() error{
		"bad signature": func() error { _, err := verifyWithJose(set, tampered, doc.Issuer, "coffer-files"); return err },
		"wrong issuer": func() error {
			_, err := verifyWithJose(set, userToken, "https://evil.example", "coffer-files")
			return err
		},
		"wrong audience": func() error {
			_, err := verifyWithJose(set, userToken, doc.Issuer, "someone-else")
			return err
		},
	} {
		if check() == nil {
			t.Fatalf("go-jose accepted a token with a %s", name)
		}
	}
}

func basicAuth(id, secret string) string {
	return base64Std(url.QueryEscape(id) + ":" + url.QueryEscape(secret))
}
