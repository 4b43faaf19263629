package e2e_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// TestLinksAndSharesAcrossNodes: with two file nodes sharing PostgreSQL, storage and the link
// key, a link made on one downloads from the other, and a revocation on either takes effect
// on both at once; so does revoking a share.
func TestLinksAndSharesAcrossNodes(t *testing.T) {
	dir := t.TempDir()
	s := startStack(t, stackOptions{FileNodes: 2, FilesEnv: map[string]string{"COFFER_FILES_DATA_DIR": dir, "COFFER_FILES_LINK_KEY": newLinkKey()}})
	c := s.client()
	alice, bob := c.newUser("alice", ""), c.newUser("bob", "")
	node0, node1 := s.Files[0].URL, s.Files[1].URL
	data := []byte("across the cluster")
	f := c.upload(alice.Token, "x", data)

	l, r := c.createLink(alice.Token, f.ID, map[string]int{"expires_in": 600})
	if r.Status != http.StatusCreated {
		t.Fatalf("create link: %d %s", r.Status, r.Body)
	}
	for _, node := range []string{node0, node1} {
		if r := c.do("GET", node+l.URL, nil, nil); r.Status != 200 || !bytes.Equal(r.Body, data) {
			t.Fatalf("link on %s: %d", node, r.Status)
		}
	}
	if r := c.do("DELETE", node1+"/v1/files/"+f.ID+"/links/"+l.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("revoke on node 1: %d", r.Status)
	}
	for _, node := range []string{node0, node1} {
		if r := c.do("GET", node+l.URL, nil, nil); r.Status != http.StatusNotFound {
			t.Fatalf("revoked link on %s: %d", node, r.Status)
		}
	}

	share := `{"user_id":"` + bob.ID + `"}`
	if r := c.do("POST", node0+"/v1/files/"+f.ID+"/shares", strings.NewReader(share), with(alice.Token, map[string]string{"Content-Type": "application/json"})); r.Status != http.StatusCreated {
		t.Fatalf("share on node 0: %d", r.Status)
	}
	if r := c.do("GET", node1+"/v1/files/"+f.ID+"/content", nil, bearer(bob.Token)); r.Status != 200 {
		t.Fatalf("recipient on node 1: %d", r.Status)
	}
	if r := c.do("DELETE", node1+"/v1/files/"+f.ID+"/shares/"+bob.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("revoke share on node 1: %d", r.Status)
	}
	for _, node := range []string{node0, node1} {
		if r := c.do("GET", node+"/v1/files/"+f.ID+"/content", nil, bearer(bob.Token)); r.Status != http.StatusNotFound {
			t.Fatalf("revoked share on %s: %d", node, r.Status)
		}
	}
}
