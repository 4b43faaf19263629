package e2e_test

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	coffer "github.com/cofferhq/coffer/pkg/client"
	"github.com/cofferhq/coffer/pkg/s3test"
)

// TestS3Redirect: with COFFER_FILES_S3_REDIRECT=true an authorized download is a 307 to a
// presigned URL on the S3 server (versitygw), which serves the right bytes, ranges and the
// file's name and type; everything the API refuses is refused the same way, without a
// Location (another user's file, a revoked share, a deleted file, no token); HEAD and links
// are still served by the node, and a revoked link is refused.
func TestS3Redirect(t *testing.T) {
	srv := s3test.Start(t)
	env := s3Env(srv, srv.Bucket)
	env["COFFER_FILES_S3_REDIRECT"] = "true"
	env["COFFER_FILES_LINK_KEY"] = newLinkKey()
	s := startStack(t, stackOptions{FilesEnv: env})
	c := s.client()
	// No redirect is followed by this client: each hop is checked.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(method, url string, h map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	readAll := func(resp *http.Response) []byte {
		t.Helper()
		var b bytes.Buffer
		if _, err := b.ReadFrom(resp.Body); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	refused := func(what string, resp *http.Response, status int) {
		t.Helper()
		if resp.StatusCode != status || resp.Header.Get("Location") != "" {
			t.Fatalf("%s: %d, Location %q; want %d and no Location", what, resp.StatusCode, resp.Header.Get("Location"), status)
		}
	}

	alice, bob := c.newUser("alice", ""), c.newUser("bob", "")
	data := make([]byte, 6<<20+5) // two multipart parts
	rand.Read(data)
	f := c.upload(alice.Token, "Quarterly report é.pdf", data)
	content := c.files + "/v1/files/" + f.ID + "/content"

	// HEAD is served by the node: the headers a proxied download has, to compare with.
	head := get("HEAD", content, bearer(alice.Token))
	if head.StatusCode != http.StatusOK || head.Header.Get("Content-Disposition") == "" {
		t.Fatalf("HEAD: %d, Content-Disposition %q", head.StatusCode, head.Header.Get("Content-Disposition"))
	}

	// The owner is redirected to the S3 server, which serves the bytes with the file's name
	// and type, without any Coffer credential.
	r := get("GET", content, bearer(alice.Token))
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, srv.Endpoint+"/") {
		t.Fatalf("owner GET: %d, Location %q; want 307 to %s", r.StatusCode, loc, srv.Endpoint)
	}
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("307 Cache-Control = %q, want no-store", cc)
	}
	if r.Header.Get("Repr-Digest") != head.Header.Get("Repr-Digest") || r.Header.Get("ETag") != head.Header.Get("ETag") {
		t.Errorf("307 Repr-Digest %q ETag %q; HEAD's %q %q", r.Header.Get("Repr-Digest"), r.Header.Get("ETag"),
			head.Header.Get("Repr-Digest"), head.Header.Get("ETag"))
	}
	s3r := get("GET", loc, nil)
	if body := readAll(s3r); s3r.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("following the redirect: %d, %d bytes, equal %v", s3r.StatusCode, len(body), bytes.Equal(body, data))
	}
	for _, h := range []string{"Content-Disposition", "Content-Type"} {
		if got, want := s3r.Header.Get(h), head.Header.Get(h); got != want {
			t.Errorf("S3's %s = %q, want the node's %q", h, got, want)
		}
	}
	if cc := s3r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("S3's Cache-Control = %q, want no-store", cc)
	}
	rg := get("GET", loc, map[string]string{"Range": "bytes=5242870-5242899"}) // across the part boundary
	if body := readAll(rg); rg.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[5242870:5242900]) {
		t.Errorf("range through the redirect: %d, equal %v", rg.StatusCode, bytes.Equal(body, data[5242870:5242900]))
	}
	// The signature covers the response headers: the URL cannot be made to serve another name.
	if tampered := get("GET", strings.Replace(loc, "response-content-disposition=", "response-content-disposition=x", 1), nil); tampered.StatusCode == http.StatusOK {
		t.Errorf("a URL with a changed Content-Disposition was served")
	}

	// Coffer's Go client follows the redirect without sending its token to S3 and checks the
	// bytes against the digest the 307 carried.
	var buf bytes.Buffer
	api, err := coffer.New(coffer.Options{FilesURL: c.files, AuthURL: c.auth, Token: coffer.Token{AccessToken: alice.Token}}) // its default HTTP client
	if err != nil {
		t.Fatal(err)
	}
	ct, err := api.Download(c.ctx(), f.ID, &buf, nil)
	if err != nil || !bytes.Equal(buf.Bytes(), data) || ct.SHA256 == nil {
		t.Fatalf("pkg/client Download: %v, equal %v, digest %x", err, bytes.Equal(buf.Bytes(), data), ct.SHA256)
	}

	// A client that holds the file (Coffer's ETag) gets 304 from the node, not a redirect.
	if nm := get("GET", content, with(alice.Token, map[string]string{"If-None-Match": head.Header.Get("ETag")})); nm.StatusCode != http.StatusNotModified || nm.Header.Get("Location") != "" {
		t.Errorf("If-None-Match with the file's ETag: %d, Location %q; want 304 without", nm.StatusCode, nm.Header.Get("Location"))
	}
	if nm := get("GET", content, with(alice.Token, map[string]string{"If-None-Match": `"stale"`})); nm.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("If-None-Match with another ETag: %d, want 307", nm.StatusCode)
	}

	// Refused as the API refuses, never redirected.
	refused("no token", get("GET", content, nil), http.StatusUnauthorized)
	refused("another user's file", get("GET", content, bearer(bob.Token)), http.StatusNotFound)
	refused("unknown file", get("GET", c.files+"/v1/files/00000000-0000-4000-8000-000000000000/content", bearer(alice.Token)), http.StatusNotFound)

	// A share redirects while it lasts; once revoked, 404 at once.
	shares := c.files + "/v1/files/" + f.ID + "/shares"
	b, _ := jsonBytes(map[string]string{"user_id": bob.ID})
	if sr := c.do("POST", shares, bytes.NewReader(b), with(alice.Token, map[string]string{"Content-Type": "application/json"})); sr.Status != http.StatusCreated {
		t.Fatalf("share: %d %s", sr.Status, sr.Body)
	}
	if r := get("GET", content, bearer(bob.Token)); r.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("shared GET: %d, want 307", r.StatusCode)
	}
	if ur := c.do("DELETE", shares+"/"+bob.ID, nil, bearer(alice.Token)); ur.Status != http.StatusNoContent {
		t.Fatalf("unshare: %d %s", ur.Status, ur.Body)
	}
	refused("revoked share", get("GET", content, bearer(bob.Token)), http.StatusNotFound)

	// Links are served by the node (their byte budgets and passwords stay exact), and a
	// revoked link is refused.
	l, lr := c.createLink(alice.Token, f.ID, map[string]int{"expires_in": 600})
	if lr.Status != http.StatusCreated {
		t.Fatalf("create link: %d %s", lr.Status, lr.Body)
	}
	linkURL := c.files + l.URL // relative: no COFFER_FILES_PUBLIC_URL
	lg := get("GET", linkURL, nil)
	if body := readAll(lg); lg.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("link GET: %d (want 200 from the node), equal %v", lg.StatusCode, bytes.Equal(body, data))
	}
	if rr := c.do("DELETE", c.files+"/v1/files/"+f.ID+"/links/"+l.ID, nil, bearer(alice.Token)); rr.Status != http.StatusNoContent {
		t.Fatalf("revoke link: %d %s", rr.Status, rr.Body)
	}
	refused("revoked link", get("GET", linkURL, nil), http.StatusNotFound)

	// A deleted file is 404 at once.
	if dr := c.do("DELETE", c.files+"/v1/files/"+f.ID, nil, bearer(alice.Token)); dr.Status != http.StatusNoContent {
		t.Fatalf("delete: %d", dr.Status)
	}
	refused("deleted file", get("GET", content, bearer(alice.Token)), http.StatusNotFound)
}
