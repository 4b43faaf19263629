package e2e_test

import (
	"net/http"
	"testing"
	"time"
)

// TestFaultAuthDownWarmCache: with the auth service gone, file nodes that already hold its
// keys keep verifying valid tokens (no call to auth per request), stay ready, and still
// refuse forged ones.
func TestFaultAuthDownWarmCache(t *testing.T) {
	s := startStack(t, stackOptions{FileNodes: 2})
	c := s.client()
	alice := c.signUp("alice")
	f := c.upload(alice, "before.txt", []byte("uploaded while auth was up"))
	if err := s.Auth.Stop(20 * time.Second); err != nil {
		t.Fatalf("auth exit: %v", err)
	}
	forged := alice[:len(alice)-4] + "AAAA"
	for i, node := range s.Files {
		if r := c.do("GET", node.URL+"/readyz", nil, nil); r.Status != http.StatusOK {
			t.Fatalf("node %d not ready with auth down: %d %s", i, r.Status, r.Body)
		}
		if r := c.do("GET", node.URL+"/v1/files/"+f.ID+"/content", nil, bearer(alice)); r.Status != http.StatusOK {
			t.Fatalf("node %d with auth down: download %d %s", i, r.Status, r.Body)
		}
		c.files = node.URL
		g := c.upload(alice, "during.txt", []byte("uploaded while auth was down"))
		if r := c.do("DELETE", node.URL+"/v1/files/"+g.ID, nil, bearer(alice)); r.Status != http.StatusNoContent {
			t.Fatalf("node %d with auth down: delete %d", i, r.Status)
		}
		if r := c.do("GET", node.URL+"/v1/files", nil, bearer(forged)); r.Status != http.StatusUnauthorized {
			t.Fatalf("node %d with auth down: forged token %d", i, r.Status)
		}
	}
}
