package e2e_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type linkJSON struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (c *client) createLink(tok, fileID string, body any) (linkJSON, response) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	r := c.do("POST", c.files+"/v1/files/"+fileID+"/links", bytes.NewReader(b), with(tok, map[string]string{"Content-Type": "application/json"}))
	var l linkJSON
	if r.Status == http.StatusCreated {
		r.JSON(c.t, &l)
	}
	return l, r
}

// TestSignedLinks: a link downloads without Authorization with the same Range and ETag
// behaviour, is limited in downloads (atomically, under parallel use), expires, is revoked
// at once, is bound to its file, is unguessable, is never an access token, and an access
// token is never a link.
func TestSignedLinks(t *testing.T) {
	key := newLinkKey()
	s, _ := filesStack(t, map[string]string{"COFFER_FILES_LINK_KEY": key})
	c := s.client()
	alice, bob := c.newUser("alice", ""), c.newUser("bob", "")
	data := []byte("the quarterly numbers, in full")
	f := c.upload(alice.Token, "numbers.csv", data)
	other := c.upload(alice.Token, "other.csv", []byte("other"))

	// Create: 201 with id, url, expires_at.
	start := time.Now()
	l, r := c.createLink(alice.Token, f.ID, map[string]int{"expires_in": 3600, "max_downloads": 3})
	if r.Status != http.StatusCreated || l.ID == "" || !strings.HasPrefix(l.URL, "/v1/links/") {
		t.Fatalf("create link: %d %s", r.Status, r.Body)
	}
	if d := l.ExpiresAt.Sub(start); d < time.Hour-5*time.Second || d > time.Hour+5*time.Second {
		t.Fatalf("expires_at %v is %v from now, want an hour", l.ExpiresAt, d)
	}
	token := strings.TrimPrefix(l.URL, "/v1/links/")

	// The link's budget is bytes (README "Download budget"): 3 × 30 bytes for responses that
	// carry byte 0, and 30 more for resumes. A HEAD (a link preview) and a 304 take none.
	get := func(method, tok string, h map[string]string) response {
		t.Helper()
		return c.do(method, c.files+"/v1/links/"+tok, nil, h)
	}
	for range 3 {
		if r := get("HEAD", token, nil); r.Status != 200 || r.Header.Get("Content-Length") != "30" {
			t.Fatalf("HEAD link: %d, Content-Length %q", r.Status, r.Header.Get("Content-Length"))
		}
	}
	r = get("GET", token, nil) // 30 of 90
	if r.Status != 200 || !bytes.Equal(r.Body, data) || r.Header.Get("ETag") == "" || r.Header.Get("Referrer-Policy") != "no-referrer" ||
		!strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment") || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET link: %d %q, headers %v", r.Status, r.Body, r.Header)
	}
	etag := r.Header.Get("ETag")
	if r := get("GET", token, map[string]string{"Range": "bytes=4-12", "If-Range": etag}); r.Status != http.StatusPartialContent || string(r.Body) != string(data[4:13]) {
		t.Fatalf("resumed GET link: %d %q", r.Status, r.Body) // 9 more: 39
	}
	if r := get("GET", token, map[string]string{"If-None-Match": "garbage, " + etag}); r.Status != http.StatusNotModified || len(r.Body) != 0 {
		t.Fatalf("revalidated GET link: %d %q", r.Status, r.Body)
	}
	if r := get("GET", token, map[string]string{"Range": "bytes=4-12", "If-Range": `"stale"`}); r.Status != 200 || !bytes.Equal(r.Body, data) { // 69
		t.Fatalf("GET link with a stale If-Range: %d %q", r.Status, r.Body)
	}
	if r := get("GET", token, map[string]string{"Range": "bytes=0-3"}); r.Status != http.StatusPartialContent || string(r.Body) != string(data[:4]) { // 73
		t.Fatalf("GET link from byte 0: %d %q", r.Status, r.Body)
	}
	for _, h := range []map[string]string{nil, {"Range": "bytes=1-,0-0"}} { // 30 more would pass 90
		r := get("GET", token, h)
		expectProblem(t, "used-up link", r, http.StatusNotFound, "not_found")
		if strings.Contains(string(r.Body), token) || strings.Contains(string(r.Body), strings.Split(token, ".")[2]) {
			t.Fatalf("a problem body echoes the link token: %s", r.Body)
		}
	}
	if r := get("GET", token, map[string]string{"Range": "bytes=1-"}); r.Status != http.StatusPartialContent { // a resume: 102 of 120
		t.Fatalf("resume within the slack: %d", r.Status)
	}
	expectProblem(t, "resume past the slack", get("GET", token, map[string]string{"Range": "bytes=1-"}), http.StatusNotFound, "not_found")
	if r := get("HEAD", token, nil); r.Status != http.StatusNotFound {
		t.Fatalf("HEAD of a used-up link: %d", r.Status)
	}
	// No route or method under /v1/links echoes a token either.
	for _, m := range []string{"POST", "DELETE", "PUT"} {
		r := get(m, token, nil)
		if r.Status < 400 || r.Status >= 500 || strings.Contains(string(r.Body), strings.Split(token, ".")[2]) {
			t.Fatalf("%s of a link: %d %s", m, r.Status, r.Body)
		}
	}
	if r := get("GET", token+"/extra", nil); r.Status != http.StatusNotFound || strings.Contains(string(r.Body), strings.Split(token, ".")[2]) {
		t.Fatalf("GET under a link: %d %s", r.Status, r.Body)
	}

	// Parallel uses cannot exceed the limit.
	l3, _ := c.createLink(alice.Token, f.ID, map[string]int{"expires_in": 3600, "max_downloads": 3})
	var wg sync.WaitGroup
	var mu sync.Mutex
	okCount := 0
	for range 10 {
		wg.Go(func() {
			resp, err := c.http.Get(c.files + l3.URL)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				mu.Lock()
				okCount++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if okCount != 3 {
		t.Fatalf("10 parallel downloads of a 3-download link: %d succeeded, want 3", okCount)
	}

	// Unlimited link; revoke stops it at once; revoking twice is 404.
	lu, _ := c.createLink(alice.Token, f.ID, map[string]int{"expires_in": 600})
	tu := strings.TrimPrefix(lu.URL, "/v1/links/")
	for range 3 {
		if r := get("GET", tu, nil); r.Status != 200 {
			t.Fatalf("unlimited link: %d", r.Status)
		}
	}
	if r := c.do("DELETE", c.files+"/v1/files/"+f.ID+"/links/"+lu.ID, nil, bearer(bob.Token)); r.Status != http.StatusNotFound {
		t.Fatalf("bob revokes alice's link: %d", r.Status)
	}
	if r := c.do("DELETE", c.files+"/v1/files/"+other.ID+"/links/"+lu.ID, nil, bearer(alice.Token)); r.Status != http.StatusNotFound {
		t.Fatalf("revoke through the wrong file: %d", r.Status)
	}
	if r := c.do("DELETE", c.files+"/v1/files/"+f.ID+"/links/"+lu.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	expectProblem(t, "revoked link", get("GET", tu, nil), http.StatusNotFound, "not_found")
	if r := c.do("DELETE", c.files+"/v1/files/"+f.ID+"/links/"+lu.ID, nil, bearer(alice.Token)); r.Status != http.StatusNotFound {
		t.Fatalf("revoke twice: %d", r.Status)
	}

	// Unguessable: 128 random bits of jti, different per link.
	la, _ := c.createLink(alice.Token, f.ID, map[string]int{"expires_in": 600})
	lb, _ := c.createLink(alice.Token, f.ID, map[string]int{"expires_in": 600})
	ta, tb := strings.TrimPrefix(la.URL, "/v1/links/"), strings.TrimPrefix(lb.URL, "/v1/links/")
	hdrA, claimsA := decodeJWT(t, ta)
	_, claimsB := decodeJWT(t, tb)
	jti, _ := claimsA["jti"].(string)
	raw, err := base64.RawURLEncoding.DecodeString(jti)
	if err != nil || len(raw) < 16 || claimsA["jti"] == claimsB["jti"] {
		t.Fatalf("jti %q (%d bytes) / %q: want distinct and >= 128 bits", jti, len(raw), claimsB["jti"])
	}
	if hdrA["typ"] != "coffer-link+jwt" || hdrA["alg"] != "HS256" || claimsA["aud"] == "coffer-files" {
		t.Fatalf("link header %v, aud %v: want its own typ and audience", hdrA, claimsA["aud"])
	}

	// Bound to its file: the same link re-signed (with the real key) for another file fails,
	// as does a changed payload under the old signature.
	forged := claimsA
	forged["sub"] = other.ID
	expectProblem(t, "link re-signed for another file", get("GET", signHS256(t, hdrA, forged, key), nil), http.StatusNotFound, "not_found")
	parts := strings.Split(ta, ".")
	p, _ := json.Marshal(forged)
	expectProblem(t, "payload changed, signature kept", get("GET", parts[0]+"."+base64.RawURLEncoding.EncodeToString(p)+"."+parts[2], nil), http.StatusNotFound, "not_found")
	expectProblem(t, "signature stripped", get("GET", parts[0]+"."+parts[1]+".", nil), http.StatusNotFound, "not_found")

	// A link is not an access token, and an access token is not a link.
	for _, path := range []string{"/v1/files", "/v1/files/" + f.ID, "/v1/files/" + f.ID + "/content"} {
		r := c.do("GET", c.files+path, nil, bearer(ta))
		if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("link token as bearer on %s: %d", path, r.Status)
		}
	}
	expectProblem(t, "access token as link", get("GET", alice.Token, nil), http.StatusNotFound, "not_found")
	if r := get("GET", ta, bearer(bob.Token)); r.Status != 200 {
		t.Fatalf("a link works whoever presents it: %d", r.Status)
	}

	// Expiry.
	short, r := c.createLink(alice.Token, f.ID, map[string]int{"expires_in": 1})
	if r.Status != http.StatusCreated {
		t.Fatalf("short link: %d", r.Status)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := c.do("GET", c.files+short.URL, nil, nil)
		if r.Status == http.StatusNotFound {
			break
		}
		if r.Status != 200 || time.Now().After(deadline) {
			t.Fatalf("expired link still answers %d", r.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Bad input; and a deleted file's links die with it.
	for _, body := range []any{map[string]int{"expires_in": 0}, map[string]int{}, map[string]int{"expires_in": 1 << 30},
		map[string]int{"expires_in": 60, "max_downloads": 0}, map[string]any{"expires_in": "60"}} {
		_, r := c.createLink(alice.Token, f.ID, body)
		if r.Status != http.StatusBadRequest {
			t.Fatalf("create link %v: %d, want 400", body, r.Status)
		}
	}
	c.do("DELETE", c.files+"/v1/files/"+f.ID, nil, bearer(alice.Token))
	expectProblem(t, "link to a deleted file", get("GET", ta, nil), http.StatusNotFound, "not_found")
	// Link tokens are credentials: the request log shows the route, not the token.
	if logs := s.Files[0].Logs(); strings.Contains(logs, parts[2]) || strings.Contains(logs, jti) || !strings.Contains(logs, "/v1/links/{token}") {
		t.Fatal("the file node's log holds a link token (or no link request at all)")
	}
	if n := s.queryInt(`SELECT count(*) FROM file_links WHERE file_id = $1`, f.ID); n != 0 {
		t.Fatalf("%d link rows outlive their file", n)
	}
}

// TestLinksDisabledWithoutKey: with no COFFER_FILES_LINK_KEY, creating a link is 501
// links_disabled and no row is written.
func TestLinksDisabledWithoutKey(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.client()
	alice := c.newUser("alice", "")
	f := c.upload(alice.Token, "x", []byte("x"))
	_, r := c.createLink(alice.Token, f.ID, map[string]int{"expires_in": 60})
	expectProblem(t, "link without key", r, http.StatusNotImplemented, "links_disabled")
	if n := s.queryInt(`SELECT count(*) FROM file_links`); n != 0 {
		t.Fatalf("%d link rows", n)
	}
}

func decodeJWT(t testing.TB, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWS", tok)
	}
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, v) != nil {
			t.Fatalf("token part %d does not decode", i)
		}
	}
	return header, claims
}

func signHS256(t testing.TB, header, claims map[string]any, b64key string) string {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(b64key)
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
