package e2e_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Section L of SECURITY.md: client and user subjects never collide. A client registered
// under a user's id would otherwise get tokens whose sub is that user's, and the file
// service would treat them as the user.
func TestAttackClientNamedAsUser(t *testing.T) {
	s, _ := filesStack(t, nil)
	c := s.client()
	alice := c.newUser("alice", "")
	f := c.upload(alice.Token, "alice.txt", []byte("alice's bytes"))

	for _, id := range []string{alice.ID, strings.ToUpper(alice.ID), strings.ReplaceAll(alice.ID, "-", "")} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, bins.Auth, "clients", "create", id, "--scopes", "files:read files:write")
		cmd.Env = []string{"COFFER_AUTH_DATABASE_URL=" + s.authDB, "COFFER_AUTH_KEK=" + s.kek}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		if err == nil {
			t.Fatalf("clients create %s (a user's id) succeeded:\n%s", id, out.String())
		}
		if strings.Contains(out.String(), "client_secret") {
			t.Fatalf("clients create %s printed a secret:\n%s", id, out.String())
		}
	}

	secret := s.createClient("ci-bot", "files:read files:write")
	r := c.postForm(s.Auth.URL+"/oauth2/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {"ci-bot"}, "client_secret": {secret}}, nil)
	var tk tokens
	if r.JSON(t, &tk); r.Status != http.StatusOK {
		t.Fatalf("client_credentials: %d %s", r.Status, r.Body)
	}
	set, _ := fetchJWKS(t, s.Auth.URL+"/.well-known/jwks.json")
	claims, err := verifyWithJose(set, tk.AccessToken, s.Auth.URL, "coffer-files")
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "client:ci-bot" || claims.ClientID != "ci-bot" {
		t.Fatalf("client token sub=%q client_id=%q, want client:ci-bot ci-bot", claims.Subject, claims.ClientID)
	}
	// The client's own space is its own: alice's file is as unknown to it as a random id.
	if r := c.do("GET", c.files+"/v1/files/"+f.ID, nil, bearer(tk.AccessToken)); r.Status != http.StatusNotFound {
		t.Fatalf("client reading alice's file: %d, want 404", r.Status)
	}
	if l, r := c.list(tk.AccessToken, ""); r.Status != http.StatusOK || len(l.Files) != 0 {
		t.Fatalf("client's list: %d %d files, want 200 and none", r.Status, len(l.Files))
	}
}
