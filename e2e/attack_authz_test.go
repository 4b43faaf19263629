package e2e_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Section D of SECURITY.md: authorization between users.

// TestAttackOtherUsersFile: bob asking for alice's file gets exactly what a random id gets, on
// every route and method, and alice's file is unchanged afterwards.
func TestAttackOtherUsersFile(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.client()
	alice, bob := c.signUp("alice"), c.signUp("bob")
	data := []byte("alice's private notes, 41 bytes long....")
	f := c.upload(alice, "private.txt", data)
	random := "7d8f2c1e-0a4b-4c6d-9e8f-1a2b3c4d5e6f"
	for _, rt := range []struct{ method, suffix string }{
		{"GET", ""}, {"HEAD", ""}, {"GET", "/content"}, {"HEAD", "/content"}, {"DELETE", ""},
	} {
		theirs := c.do(rt.method, c.files+"/v1/files/"+f.ID+rt.suffix, nil, bearer(bob))
		none := c.do(rt.method, c.files+"/v1/files/"+random+rt.suffix, nil, bearer(bob))
		if theirs.Status != http.StatusNotFound {
			t.Fatalf("bob %s %s: %d %s, want 404", rt.method, rt.suffix, theirs.Status, theirs.Body)
		}
		if none.Status != theirs.Status {
			t.Fatalf("%s %s: alice's id %d, random id %d", rt.method, rt.suffix, theirs.Status, none.Status)
		}
		if got, want := strings.ReplaceAll(string(theirs.Body), f.ID, random), string(none.Body); got != want {
			t.Fatalf("%s %s: bodies differ:\n%s\n%s", rt.method, rt.suffix, theirs.Body, none.Body)
		}
		for _, h := range []string{"Content-Type", "Content-Length", "WWW-Authenticate", "Cache-Control", "ETag", "Content-Disposition"} {
			if theirs.Header.Get(h) != none.Header.Get(h) {
				t.Fatalf("%s %s: header %s %q vs %q", rt.method, rt.suffix, h, theirs.Header.Get(h), none.Header.Get(h))
			}
		}
	}
	r := c.do("GET", c.files+"/v1/files/"+f.ID+"/content", nil, bearer(alice))
	if r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
		t.Fatalf("alice's file after bob's attempts: %d %q", r.Status, r.Body)
	}
}

// TestAttackListIsolation: no cursor, prefix or limit shows bob a row of alice's, even
// alice's own cursor; a forged cursor is a 400, not a 500.
func TestAttackListIsolation(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.client()
	alice, bob := c.signUp("alice"), c.signUp("bob")
	for _, n := range []string{"a-1.txt", "a-2.txt", "a-3.txt"} {
		c.upload(alice, n, []byte(n))
	}
	c.upload(bob, "b-1.txt", []byte("bob"))
	type page struct {
		Files      []fileJSON `json:"files"`
		NextCursor *string    `json:"next_cursor"`
	}
	var p page
	c.do("GET", c.files+"/v1/files?limit=1", nil, bearer(alice)).JSON(t, &p)
	if p.NextCursor == nil {
		t.Fatal("alice's first page of 1 has no next cursor")
	}
	for _, q := range []string{
		"", "limit=1000", "prefix=a-", "prefix=", "cursor=" + url.QueryEscape(*p.NextCursor),
		"cursor=" + url.QueryEscape(*p.NextCursor) + "&prefix=a-", "prefix=%25", "prefix=_", "prefix=" + url.QueryEscape("' OR 1=1 --"),
	} {
		r := c.do("GET", c.files+"/v1/files?"+q, nil, bearer(bob))
		if r.Status != http.StatusOK {
			t.Fatalf("bob list ?%s: %d %s", q, r.Status, r.Body)
		}
		var got page
		r.JSON(t, &got)
		for _, f := range got.Files {
			if strings.HasPrefix(f.Name, "a-") {
				t.Fatalf("bob list ?%s shows alice's %s", q, f.Name)
			}
		}
	}
	// Malformed cursors: 400 invalid_request, the cursor not echoed, nothing changed.
	before := c.do("GET", c.files+"/v1/files?limit=1000", nil, bearer(alice)).Body
	for _, cur := range []string{"garbage", "AAAA", strings.Repeat("A", 5000), "eyJ9", "%00", "garbage-but-much-longer-than-sixteen"} {
		r := c.do("GET", c.files+"/v1/files?cursor="+url.QueryEscape(cur), nil, bearer(bob))
		expectCleanProblem(t, fmt.Sprintf("forged cursor %.20q", cur), r, http.StatusBadRequest, "invalid_request", cur, bob)
	}
	// Well-formed forged cursors (24 bytes: a time and an id), aimed at alice's rows, at the
	// extremes of time: bob sees only his own rows, or a 400 for a time that cannot be.
	var aliceFirst page
	c.do("GET", c.files+"/v1/files?limit=1", nil, bearer(alice)).JSON(t, &aliceFirst)
	aliceID, _ := uuid.Parse(aliceFirst.Files[0].ID)
	forge := func(micros uint64, id uuid.UUID) string {
		var b [24]byte
		binary.BigEndian.PutUint64(b[:8], micros)
		copy(b[8:], id[:])
		return base64.RawURLEncoding.EncodeToString(b[:])
	}
	// A time below PostgreSQL's range must not wrap into the far future (it showed bob all his
	// own rows): 400. A time in the past but in range is an empty page for bob.
	pgMin := time.Date(-4713, 11, 24, 0, 0, 0, 0, time.UTC).UnixMicro()
	for _, cur := range []string{forge(1<<63, aliceID), forge(1<<63, uuid.Max), forge(uint64(pgMin-1), aliceID)} {
		r := c.do("GET", c.files+"/v1/files?cursor="+cur, nil, bearer(bob))
		expectCleanProblem(t, "out-of-range cursor "+cur, r, http.StatusBadRequest, "invalid_request", bob)
	}
	for _, cur := range []string{forge(0, uuid.Max), forge(uint64(pgMin), uuid.Max)} {
		var got page
		if r := c.do("GET", c.files+"/v1/files?cursor="+cur, nil, bearer(bob)); r.Status != http.StatusOK {
			t.Fatalf("past cursor %s: %d %s", cur, r.Status, r.Body)
		} else if r.JSON(t, &got); len(got.Files) != 0 {
			t.Fatalf("past cursor %s shows %d rows, want none", cur, len(got.Files))
		}
	}
	for _, cur := range []string{
		forge(uint64(time.Now().Add(time.Hour).UnixMicro()), aliceID),
		forge(uint64(time.Now().Add(time.Hour).UnixMicro()), uuid.Nil),
		forge(uint64(time.Now().Add(time.Hour).UnixMicro()), uuid.Max),
		forge(0, aliceID),
		forge(1<<63-1, aliceID),
		forge(1<<63, aliceID),
		forge(1<<64-1, aliceID),
	} {
		r := c.do("GET", c.files+"/v1/files?cursor="+cur, nil, bearer(bob))
		if r.Status == http.StatusBadRequest {
			expectCleanProblem(t, "forged cursor "+cur, r, http.StatusBadRequest, "invalid_request", bob)
			continue
		}
		if r.Status != http.StatusOK {
			t.Fatalf("well-formed forged cursor %s: %d %s", cur, r.Status, r.Body)
		}
		var got page
		r.JSON(t, &got)
		for _, f := range got.Files {
			if strings.HasPrefix(f.Name, "a-") {
				t.Fatalf("forged cursor %s shows alice's %s", cur, f.Name)
			}
		}
	}
	if after := c.do("GET", c.files+"/v1/files?limit=1000", nil, bearer(alice)).Body; !bytes.Equal(after, before) {
		t.Fatalf("alice's files changed: %s (was %s)", after, before)
	}
}

// TestAttackClientSuppliedFields: owner, size and checksum sent by the client, in the query or
// in form fields, are ignored: the server computes them.
func TestAttackClientSuppliedFields(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.client()
	alice, bob := c.signUp("alice"), c.signUp("bob")
	data := []byte("twelve bytes")
	q := "name=x.txt&owner_id=bob&owner=bob&size=1&sha256=" + strings.Repeat("0", 64) + "&id=00000000-0000-4000-8000-000000000000"
	r := c.do("POST", c.files+"/v1/files?"+q, bytes.NewReader(data), map[string]string{"Authorization": "Bearer " + alice, "Content-Type": "application/octet-stream"})
	if r.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	var f fileJSON
	r.JSON(t, &f)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range map[string]string{"owner_id": "bob", "size": "1", "sha256": strings.Repeat("0", 64), "id": "00000000-0000-4000-8000-000000000000"} {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "y.txt")
	fw.Write(data)
	mw.Close()
	r = c.do("POST", c.files+"/v1/files", &body, map[string]string{"Authorization": "Bearer " + alice, "Content-Type": mw.FormDataContentType()})
	if r.Status != http.StatusCreated {
		t.Fatalf("multipart upload: %d %s", r.Status, r.Body)
	}
	var g fileJSON
	r.JSON(t, &g)
	for _, got := range []fileJSON{f, g} {
		if got.Size != int64(len(data)) || got.SHA256 == strings.Repeat("0", 64) || got.ID == "00000000-0000-4000-8000-000000000000" {
			t.Fatalf("client fields were taken: %+v", got)
		}
		if r := c.do("GET", c.files+"/v1/files/"+got.ID, nil, bearer(bob)); r.Status != http.StatusNotFound {
			t.Fatalf("bob sees alice's upload that claimed owner bob: %d", r.Status)
		}
		if r := c.do("GET", c.files+"/v1/files/"+got.ID, nil, bearer(alice)); r.Status != http.StatusOK {
			t.Fatalf("alice cannot see her upload: %d", r.Status)
		}
	}
}
