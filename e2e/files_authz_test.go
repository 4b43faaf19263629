package e2e_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestScopesEnforced: files:read for reads, files:write for uploads and deletes,
// files:share for shares and links; anything else is 403 insufficient_scope.
func TestScopesEnforced(t *testing.T) {
	s, _ := filesStack(t, nil)
	c := s.client()
	owner := c.newUser("owner", "")
	f := c.upload(owner.Token, "f", []byte("data"))
	pw := "pw-owner-long-enough"
	readOnly := c.loginScope("owner", pw, "files:read")
	writeOnly := c.loginScope("owner", pw, "files:write")
	readWrite := c.loginScope("owner", pw, "files:read files:write")
	shareOnly := c.loginScope("owner", pw, "files:share")

	type call struct {
		method, path, body string
	}
	id := f.ID
	upload := call{"POST", "/v1/files?name=new", "bytes"}
	calls := map[string][]call{
		"files:read": {{"GET", "/v1/files", ""}, {"GET", "/v1/files/" + id, ""}, {"HEAD", "/v1/files/" + id, ""},
			{"GET", "/v1/files/" + id + "/content", ""}, {"HEAD", "/v1/files/" + id + "/content", ""}, {"GET", "/v1/files?shared=true", ""}},
		"files:write": {upload, {"DELETE", "/v1/files/" + id, ""}},
		"files:share": {{"POST", "/v1/files/" + id + "/shares", `{"user_id":"someone"}`}, {"DELETE", "/v1/files/" + id + "/shares/someone", ""},
			{"POST", "/v1/files/" + id + "/links", `{"expires_in":60}`}, {"DELETE", "/v1/files/" + id + "/links/00000000-0000-4000-8000-000000000000", ""}},
	}
	tokens := map[string]string{"files:read": readOnly, "files:write": writeOnly, "files:share": shareOnly}
	for have, tok := range tokens {
		for need, cs := range calls {
			if need == have {
				continue
			}
			for _, cl := range cs {
				r := c.do(cl.method, c.files+cl.path, strings.NewReader(cl.body), with(tok, map[string]string{"Content-Type": "application/json"}))
				if r.Status != http.StatusForbidden {
					t.Fatalf("%s %s with only %s: %d, want 403", cl.method, cl.path, have, r.Status)
				}
				if cl.method != "HEAD" && r.problemCode(t) != "insufficient_scope" {
					t.Fatalf("%s %s with only %s: code %s", cl.method, cl.path, have, r.Body)
				}
				if !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
					t.Fatalf("403 without the RFC 6750 challenge: %q", r.Header.Get("WWW-Authenticate"))
				}
			}
		}
	}
	// Nothing changed, and the right scope works.
	if s.fileRows() != 1 || s.queryInt(`SELECT count(*) FROM file_shares`)+s.queryInt(`SELECT count(*) FROM file_links`) != 0 {
		t.Fatal("a refused call changed something")
	}
	if r := c.do("GET", c.files+"/v1/files/"+id+"/content", nil, bearer(readOnly)); r.Status != 200 {
		t.Fatalf("read with files:read: %d", r.Status)
	}
	if r := c.do("POST", c.files+"/v1/files/"+id+"/links", strings.NewReader(`{"expires_in":60}`), with(owner.Token, map[string]string{"Content-Type": "application/json"})); r.Status != http.StatusCreated {
		t.Fatalf("link with files:share: %d %s", r.Status, r.Body)
	}
	c.upload(readWrite, "rw", []byte("x"))
	if r := c.do("DELETE", c.files+"/v1/files/"+id, nil, bearer(readWrite)); r.Status != http.StatusNoContent {
		t.Fatalf("delete with files:write: %d", r.Status)
	}
}

// TestOtherUsersFiles: every route on another user's file answers exactly like a random
// id (status, code, body size), and the owner's data is unchanged.
func TestOtherUsersFiles(t *testing.T) {
	s, dir := filesStack(t, nil)
	c := s.client()
	alice, mallory := c.newUser("alice", ""), c.newUser("mallory", "")
	data := []byte("alice's secret")
	f := c.upload(alice.Token, "secret", data)
	l, _ := c.createLink(alice.Token, f.ID, map[string]int{"expires_in": 600})
	c.do("POST", c.files+"/v1/files/"+f.ID+"/shares", strings.NewReader(`{"user_id":"friend"}`), with(alice.Token, map[string]string{"Content-Type": "application/json"}))
	random := "7a1c0e2b-5d4f-4a8e-9b3c-1d2e3f4a5b6c"

	for _, cl := range []struct{ method, suffix, body string }{
		{"GET", "", ""}, {"HEAD", "", ""}, {"GET", "/content", ""}, {"HEAD", "/content", ""},
		{"DELETE", "", ""}, {"POST", "/shares", `{"user_id":"someone-else"}`}, {"DELETE", "/shares/friend", ""},
		{"POST", "/links", `{"expires_in":60}`}, {"DELETE", "/links/" + l.ID, ""},
	} {
		h := with(mallory.Token, map[string]string{"Content-Type": "application/json"})
		theirs := c.do(cl.method, c.files+"/v1/files/"+f.ID+cl.suffix, strings.NewReader(cl.body), h)
		none := c.do(cl.method, c.files+"/v1/files/"+random+cl.suffix, strings.NewReader(cl.body), h)
		if theirs.Status != http.StatusNotFound || none.Status != theirs.Status || len(none.Body) != len(theirs.Body) {
			t.Fatalf("%s %s: another user's file %d (%d bytes), a random id %d (%d bytes); want identical 404s",
				cl.method, cl.suffix, theirs.Status, len(theirs.Body), none.Status, len(none.Body))
		}
	}
	r := c.do("GET", c.files+"/v1/files/"+f.ID+"/content", nil, bearer(alice.Token))
	if r.Status != 200 || !bytes.Equal(r.Body, data) || s.fileRows() != 1 || countFiles(t, dir) != 1 {
		t.Fatalf("alice's file changed: %d %q", r.Status, r.Body)
	}
	if s.queryInt(`SELECT count(*) FROM file_shares`) != 1 || s.queryInt(`SELECT count(*) FROM file_links`) != 1 {
		t.Fatal("alice's shares or links changed")
	}
}

// TestListingIsolationAndPaging: keyset pages, newest first, walk every file once; the
// prefix filter is literal; cursors (another user's, or forged) never reveal other rows;
// client-supplied owner, size and checksum are ignored.
func TestListingIsolationAndPaging(t *testing.T) {
	s, _ := filesStack(t, nil)
	c := s.client()
	alice, bob := c.newUser("alice", ""), c.newUser("bob", "")
	var ids []string
	for i := range 7 {
		name := fmt.Sprintf("report-%d.txt", i)
		if i == 5 {
			name = "rep%rt_x.txt"
		}
		ids = append(ids, c.upload(alice.Token, name, []byte{byte(i)}).ID)
		time.Sleep(2 * time.Millisecond) // distinct created_at, so "newest first" is checkable
	}
	bobs := c.upload(bob.Token, "report-bob.txt", []byte("b")).ID

	// Walk alice's files two at a time.
	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		q := "?limit=2"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		l, r := c.list(alice.Token, q)
		if r.Status != 200 || len(l.Files) > 2 || page > 4 {
			t.Fatalf("page %d: %d, %d files", page, r.Status, len(l.Files))
		}
		for _, f := range l.Files {
			seen = append(seen, f.ID)
		}
		if l.NextCursor == nil {
			break
		}
		cursor = *l.NextCursor
		// Bob with alice's cursor sees only his own older files (his one is newer: none).
		if bl, r := c.list(bob.Token, "?limit=2&cursor="+url.QueryEscape(cursor)); r.Status != 200 || len(bl.Files) != 0 {
			t.Fatalf("bob with alice's cursor: %d, %+v", r.Status, bl.Files)
		}
	}
	if len(seen) != 7 {
		t.Fatalf("walked %d files, want 7", len(seen))
	}
	for i, id := range seen {
		if id != ids[6-i] {
			t.Fatalf("order %v, want newest first %v", seen, ids)
		}
	}

	// A forged cursor from the far future still only lists the caller's rows.
	var b [24]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().Add(1000*time.Hour).UnixMicro()))
	rand.Read(b[8:])
	l, _ := c.list(bob.Token, "?cursor="+base64.RawURLEncoding.EncodeToString(b[:]))
	if len(l.Files) != 1 || l.Files[0].ID != bobs {
		t.Fatalf("bob with a forged cursor: %+v, want only his file", l.Files)
	}
	for _, bad := range []string{"?cursor=!!!", "?cursor=AAAA", "?limit=0x", "?limit=-1", "?limit=1001", "?shared=maybe"} {
		_, r := c.list(bob.Token, bad)
		expectProblem(t, "list "+bad, r, http.StatusBadRequest, "invalid_request")
	}

	// Prefix: literal, no wildcards.
	if l, _ := c.list(alice.Token, "?prefix=report-"); len(l.Files) != 6 {
		t.Fatalf("prefix report-: %d files, want 6", len(l.Files))
	}
	if l, _ := c.list(alice.Token, "?prefix="+url.QueryEscape("rep%")); len(l.Files) != 1 || l.Files[0].ID != ids[5] {
		t.Fatalf("prefix rep%%: %+v, want only the literal match", l.Files)
	}
	if l, _ := c.list(alice.Token, "?prefix="+url.QueryEscape("report_")); len(l.Files) != 0 {
		t.Fatalf("prefix report_ matched %d files: _ is not a wildcard", len(l.Files))
	}

	// Client-supplied owner, size and checksum are ignored.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("owner_id", bob.ID)
	mw.WriteField("size", "1")
	mw.WriteField("sha256", strings.Repeat("0", 64))
	fw, _ := mw.CreateFormFile("file", "claims.txt")
	fw.Write([]byte("real content"))
	mw.Close()
	r := c.do("POST", c.files+"/v1/files?owner_id="+bob.ID+"&size=1&sha256=00", &body, with(alice.Token, map[string]string{"Content-Type": mw.FormDataContentType()}))
	var f fileJSON
	r.JSON(t, &f)
	if r.Status != http.StatusCreated || f.Size != 12 || f.SHA256 == strings.Repeat("0", 64) {
		t.Fatalf("upload with client claims: %d %+v", r.Status, f)
	}
	if owner := s.queryInt(`SELECT count(*) FROM files WHERE id = $1 AND owner_id = $2`, f.ID, alice.ID); owner != 1 {
		t.Fatal("the client chose the owner")
	}
}
