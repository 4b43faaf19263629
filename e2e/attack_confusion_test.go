package e2e_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestAttackTokenConfusion (SECURITY.md B and D): real tokens of the wrong kind, from the real
// auth and file services. A refresh token or a link token presented as an access token is a
// plain 401; an access token presented where a link token is expected is a 404 like any bad
// link; nothing changes.
func TestAttackTokenConfusion(t *testing.T) {
	s, _ := filesStack(t, map[string]string{"COFFER_FILES_LINK_KEY": newLinkKey()})
	c := s.client()
	c.newUser("alice", "")
	r := c.postJSON(c.auth+"/v1/login", map[string]string{"username": "alice", "password": "pw-alice-long-enough", "scope": allScopes})
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	r.JSON(t, &tok)
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("login gave no access or refresh token: %s", r.Body)
	}
	f := c.upload(tok.AccessToken, "f.txt", []byte("linked"))
	l, lr := c.createLink(tok.AccessToken, f.ID, map[string]int{"expires_in": 600})
	if lr.Status != http.StatusCreated {
		t.Fatalf("create link: %d %s", lr.Status, lr.Body)
	}
	link := strings.TrimPrefix(l.URL, "/v1/links/")
	before := c.listCount(tok.AccessToken)

	for name, bad := range map[string]string{"refresh_token": tok.RefreshToken, "link_token": link} {
		for _, rt := range []struct{ method, path string }{
			{"GET", "/v1/files"}, {"GET", "/v1/files/" + f.ID + "/content"}, {"DELETE", "/v1/files/" + f.ID}, {"POST", "/v1/files?name=x"},
		} {
			r := c.do(rt.method, c.files+rt.path, strings.NewReader("x"), bearer(bad))
			if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s as an access token on %s %s: %d %s", name, rt.method, rt.path, r.Status, r.Body)
			}
			if strings.Contains(string(r.Body), bad) {
				t.Fatalf("%s echoed in the body", name)
			}
		}
	}
	// The access token where a link token goes: just another unknown link.
	for _, p := range []string{"/v1/links/" + tok.AccessToken, "/v1/links/" + tok.RefreshToken} {
		if r := c.do("GET", c.files+p, nil, nil); r.Status != http.StatusNotFound {
			t.Fatalf("GET %.40s…: %d, want 404", p, r.Status)
		}
	}
	// The data is unchanged and the link still works.
	if n := c.listCount(tok.AccessToken); n != before {
		t.Fatalf("files %d, was %d", n, before)
	}
	if r := c.do("GET", c.files+"/v1/links/"+link, nil, nil); r.Status != http.StatusOK || string(r.Body) != "linked" {
		t.Fatalf("the link itself: %d", r.Status)
	}
}
