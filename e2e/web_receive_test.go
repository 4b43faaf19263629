package e2e_test

import (
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWebReceive drives receiving and sharing on the page in chromium (e2e/browser/receive.mjs):
// alice creates a file request with a password, limits and the sender's name asked; someone
// with no account sends files through its public page in a fresh context (password, name,
// picker and drag-and-drop, a progress bar to done each, the file limit refused in words);
// alice sees what arrived and from whom and closes the request, whose page then refuses;
// she links a file with a password and shares it with bob (the row says so), the link page
// asks the password and serves the bytes, bob sees who shared the file, and the access
// dialog lists and revokes the link and the share. The database and the API confirm it.
func TestWebReceive(t *testing.T) {
	ws := startWebStack(t)
	c := ws.client()
	alice, bob := c.newUser("alice-recv", ""), c.newUser("bob-recv", "")
	dir := t.TempDir()
	write := func(name string, n int) string {
		b := make([]byte, n)
		rand.Read(b)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sent := []string{write("signed-page-1.pdf", 300<<10), write("signed-page-2.pdf", 120<<10)}
	ownerPath := write("contract.pdf", 50<<10)
	owned, _ := os.ReadFile(ownerPath)
	f := c.upload(alice.Token, "contract.pdf", owned)

	artifacts := artifactsDir(t)
	res := runBrowser(t, "receive.mjs", map[string]any{
		"web": ws.Web.URL, "auth": ws.Auth.URL, "files_url": ws.Files[0].URL, "artifacts": artifacts,
		"user": alice.Name, "pass": "pw-" + alice.Name + "-long-enough", "user2": bob.Name, "pass2": "pw-" + bob.Name + "-long-enough",
		"title": "Signed contract pages", "requestPass": "request-pass-42", "uploader": "Carol Sender",
		"files": sent, "ownerFile": "contract.pdf", "ownerPath": ownerPath, "linkPass": "link-pass-42", "sharedBy": alice.Name,
	})
	t.Logf("browser steps: %s", strings.Join(res.Steps, "; "))
	t.Logf("screenshots: %s", filepath.Join(artifacts, "web-re*.png"))

	// What the page did, as the database holds it: three files from the named sender through
	// the request (the fourth refused), the request closed, no link or share left.
	if n := ws.queryInt(`SELECT count(*) FROM files f JOIN file_requests r ON r.id = f.request_id
		WHERE r.title = 'Signed contract pages' AND f.uploader_name = 'Carol Sender' AND f.owner_id = '` + alice.ID + `'`); n != 3 {
		t.Errorf("files through the request from Carol Sender: %d, want 3", n)
	}
	if n := ws.queryInt(`SELECT count(*) FROM file_requests WHERE title = 'Signed contract pages' AND closed_at IS NOT NULL AND files_used = 3 AND password_hash LIKE '$argon2id$%'`); n != 1 {
		t.Errorf("closed requests with 3 files and a hashed password: %d, want 1", n)
	}
	if n := ws.queryInt(`SELECT count(*) FROM file_links WHERE file_id = '` + f.ID + `'`); n != 0 {
		t.Errorf("links of the file after revoking: %d", n)
	}
	if n := ws.queryInt(`SELECT count(*) FROM file_shares WHERE file_id = '` + f.ID + `'`); n != 0 {
		t.Errorf("shares of the file after revoking: %d", n)
	}
	// A fresh token: the web stack's access tokens live 5 s.
	bobNow := c.loginScope(bob.Name, "pw-"+bob.Name+"-long-enough", allScopes)
	if r := c.do("GET", c.files+"/v1/files/"+f.ID+"/content", nil, bearer(bobNow)); r.Status != http.StatusNotFound {
		t.Errorf("bob reads the file after the share was revoked: %d", r.Status)
	}
}
