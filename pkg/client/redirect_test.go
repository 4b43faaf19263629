package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

	coffer "github.com/cofferhq/coffer/pkg/client"
)

// TestRedirectKeepsTokenOnOrigin: a download redirected to another origin on the same host
// (a file node in S3 redirect mode with the object store beside it) reaches it without the
// bearer token, and the digest of the 307 still checks the bytes.
func TestRedirectKeepsTokenOnOrigin(t *testing.T) {
	data := []byte("bytes from the object store")
	sum := sha256.Sum256(data)
	var storeAuth []string
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		storeAuth = append(storeAuth, r.Header.Get("Authorization"))
		w.Write(data)
	}))
	defer store.Close()
	var nodeAuth string
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nodeAuth = r.Header.Get("Authorization")
		w.Header().Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
		http.Redirect(w, r, store.URL+"/object?X-Amz-Signature=x", http.StatusTemporaryRedirect)
	}))
	defer node.Close()
	c, err := coffer.New(coffer.Options{FilesURL: node.URL, AuthURL: node.URL, Token: coffer.Token{AccessToken: "tok"}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	ct, err := c.Download(context.Background(), "00000000-0000-4000-8000-000000000000", &buf, nil)
	if err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("Download: %v, got %q", err, buf.Bytes())
	}
	if !bytes.Equal(ct.SHA256, sum[:]) {
		t.Errorf("SHA256 = %x, want the 307's %x", ct.SHA256, sum)
	}
	if nodeAuth != "Bearer tok" {
		t.Errorf("the node got Authorization %q, want the token", nodeAuth)
	}
	if len(storeAuth) != 1 || storeAuth[0] != "" {
		t.Errorf("the object store got Authorization %q, want none", storeAuth)
	}
}
