package e2e_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"mime/multipart"
	"net/http"
	"testing"
	"time"
)

// TestWalkingSkeleton drives the real binaries through the whole flow a user follows in the
// README: sign up, log in, upload (raw and multipart), list, download, isolation between
// users, no token, delete.
func TestWalkingSkeleton(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.client()
	alice := c.signUp("alice")
	bob := c.signUp("bob")

	// Raw upload, large enough to span many read buffers.
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	raw := c.upload(alice, "report.bin", data)
	sum := sha256.Sum256(data)
	if raw.Size != int64(len(data)) || raw.SHA256 != hex.EncodeToString(sum[:]) || raw.Name != "report.bin" {
		t.Fatalf("raw upload metadata = %+v, want size %d sha256 %x", raw, len(data), sum)
	}

	// Multipart upload.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("note", "ignored")
	fw, _ := mw.CreateFormFile("file", "notes.txt")
	fw.Write([]byte("hello, coffer\n"))
	mw.Close()
	r := c.do("POST", c.files+"/v1/files", &body, map[string]string{"Authorization": "Bearer " + alice, "Content-Type": mw.FormDataContentType()})
	if r.Status != http.StatusCreated {
		t.Fatalf("multipart upload: %d %s", r.Status, r.Body)
	}
	var mp fileJSON
	r.JSON(t, &mp)
	if mp.Name != "notes.txt" || mp.Size != 14 {
		t.Fatalf("multipart metadata = %+v, want notes.txt of 14 bytes", mp)
	}
	if loc := r.Header.Get("Location"); loc != "/v1/files/"+mp.ID {
		t.Fatalf("Location = %q", loc)
	}

	// List: newest first, only alice's.
	r = c.do("GET", c.files+"/v1/files", nil, bearer(alice))
	var list struct {
		Files      []fileJSON `json:"files"`
		NextCursor *string    `json:"next_cursor"`
	}
	r.JSON(t, &list)
	if len(list.Files) != 2 || list.Files[0].ID != mp.ID || list.Files[1].ID != raw.ID {
		t.Fatalf("alice's list = %+v, want [multipart, raw]", list.Files)
	}
	r = c.do("GET", c.files+"/v1/files", nil, bearer(bob))
	r.JSON(t, &list)
	if len(list.Files) != 0 {
		t.Fatalf("bob sees %d files, want 0", len(list.Files))
	}

	// Download, byte for byte.
	r = c.do("GET", c.files+"/v1/files/"+raw.ID+"/content", nil, bearer(alice))
	if r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
		t.Fatalf("download: status %d, %d bytes, equal=%v", r.Status, len(r.Body), bytes.Equal(r.Body, data))
	}

	// Bob gets exactly what a random id gets: 404, same code.
	random := "00000000-0000-4000-8000-000000000000"
	for _, path := range []string{"/v1/files/" + raw.ID, "/v1/files/" + raw.ID + "/content"} {
		theirs := c.do("GET", c.files+path, nil, bearer(bob))
		none := c.do("GET", c.files+"/v1/files/"+random+path[len("/v1/files/")+36:], nil, bearer(bob))
		if theirs.Status != http.StatusNotFound || theirs.problemCode(t) != "not_found" {
			t.Fatalf("bob GET %s = %d %s, want 404 not_found", path, theirs.Status, theirs.Body)
		}
		if none.Status != theirs.Status || len(none.Body) != len(theirs.Body) {
			t.Fatalf("another user's file (%d, %d bytes) is distinguishable from a random id (%d, %d bytes)",
				theirs.Status, len(theirs.Body), none.Status, len(none.Body))
		}
	}
	if r := c.do("DELETE", c.files+"/v1/files/"+raw.ID, nil, bearer(bob)); r.Status != http.StatusNotFound {
		t.Fatalf("bob DELETE alice's file = %d, want 404", r.Status)
	}

	// No token.
	r = c.do("GET", c.files+"/v1/files", nil, nil)
	if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d, WWW-Authenticate %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}

	// Delete, then 404.
	if r := c.do("DELETE", c.files+"/v1/files/"+raw.ID, nil, bearer(alice)); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	for _, path := range []string{"/v1/files/" + raw.ID, "/v1/files/" + raw.ID + "/content"} {
		if r := c.do("GET", c.files+path, nil, bearer(alice)); r.Status != http.StatusNotFound {
			t.Fatalf("GET %s after delete = %d, want 404", path, r.Status)
		}
	}
}

// TestSigningKeySurvivesRestart: tokens issued before an auth restart still verify after it,
// because the key lives (sealed) in PostgreSQL, not in the process.
func TestSigningKeySurvivesRestart(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.client()
	tok := c.signUp("carol")
	before := c.do("GET", s.Auth.URL+"/.well-known/jwks.json", nil, nil)

	if err := s.Auth.Stop(20 * time.Second); err != nil {
		t.Fatalf("auth exit: %v", err)
	}
	s.Auth = s.StartAuth(map[string]string{"COFFER_AUTH_ADDR": s.Auth.Addr, "COFFER_AUTH_ISSUER": s.Auth.URL})
	after := c.do("GET", s.Auth.URL+"/.well-known/jwks.json", nil, nil)
	if !bytes.Equal(before.Body, after.Body) {
		t.Fatalf("JWKS changed across a restart:\n%s\n%s", before.Body, after.Body)
	}
	// The file node verifies the old token, and a new one.
	for _, tk := range []string{tok, c.login("carol", "pw-carol-long-enough")} {
		if r := c.do("GET", c.files+"/v1/files", nil, bearer(tk)); r.Status != http.StatusOK {
			t.Fatalf("list with token = %d %s", r.Status, r.Body)
		}
	}
}
