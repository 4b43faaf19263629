package e2e_test

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSharedWithMeNamesTheSharer: a user's access token names them (preferred_username) and
// a client's own token names no one; the file service keeps the owner's name with each share
// and "shared with me" lists give it beside the owner's id, however the recipient was named.
// A share row without a name (made by an older node) lists the id alone, as does a client's
// share. `coffer ls --shared` shows the name, or the id when there is none.
func TestSharedWithMeNamesTheSharer(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	s, _ := filesStack(t, nil)
	c := s.client()
	alice, bob := c.newUser("alice-sharer", ""), c.newUser("bob-sharer", "")
	if got := tokenClaim(t, alice.Token, "preferred_username"); got != "alice-sharer" {
		t.Fatalf("alice's token preferred_username = %v, want alice-sharer", got)
	}
	share := func(tok, fileID string, body map[string]string) {
		t.Helper()
		b, _ := json.Marshal(body)
		r := c.do("POST", c.files+"/v1/files/"+fileID+"/shares", bytes.NewReader(b), with(tok, map[string]string{"Content-Type": "application/json"}))
		if r.Status != http.StatusCreated {
			t.Fatalf("share %s: %d %s", fileID, r.Status, r.Body)
		}
	}
	byName := c.upload(alice.Token, "by-name.txt", []byte("by name"))
	share(alice.Token, byName.ID, map[string]string{"username": "bob-sharer"})
	byID := c.upload(alice.Token, "by-id.txt", []byte("by id"))
	share(alice.Token, byID.ID, map[string]string{"user_id": bob.ID})
	old := c.upload(alice.Token, "older-node.txt", []byte("old"))
	share(alice.Token, old.ID, map[string]string{"user_id": bob.ID})
	// As a previous release's node stored it: no name.
	if n := s.queryInt(`WITH u AS (UPDATE file_shares SET sharer_name = NULL WHERE file_id = $1 RETURNING 1) SELECT count(*) FROM u`, old.ID); n != 1 {
		t.Fatalf("cleared the name of %d shares, want 1", n)
	}

	// A client's own token names no one; its share lists its id.
	secret := s.createClient("ci-sharer", "files:read files:write files:share")
	r := c.postForm(s.Auth.URL+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"ci-sharer"}, "client_secret": {secret}}, nil)
	var tk tokens
	if r.JSON(t, &tk); r.Status != http.StatusOK {
		t.Fatalf("client_credentials: %d %s", r.Status, r.Body)
	}
	if got := tokenClaim(t, tk.AccessToken, "preferred_username"); got != nil {
		t.Fatalf("a client's own token has preferred_username %v", got)
	}
	bot := c.upload(tk.AccessToken, "from-bot.txt", []byte("bot"))
	share(tk.AccessToken, bot.ID, map[string]string{"user_id": bob.ID})

	l, lr := c.list(bob.Token, "?shared=true")
	if lr.Status != http.StatusOK || len(l.Files) != 4 {
		t.Fatalf("bob's shared list: %d, %d files, want 4", lr.Status, len(l.Files))
	}
	want := map[string][2]string{ // name -> shared_by, shared_by_name
		"by-name.txt": {alice.ID, "alice-sharer"}, "by-id.txt": {alice.ID, "alice-sharer"},
		"older-node.txt": {alice.ID, ""}, "from-bot.txt": {"client:ci-sharer", ""},
	}
	for _, f := range l.Files {
		if got := [2]string{f.SharedBy, f.SharedByName}; got != want[f.Name] {
			t.Errorf("%s: shared_by, shared_by_name = %q, want %q", f.Name, got, want[f.Name])
		}
	}
	if strings.Contains(string(lr.Body), `"shared_by_name":""`) {
		t.Errorf("an unknown name is sent as an empty string: %s", lr.Body)
	}
	// The owner's own list carries neither.
	if mine, _ := c.list(alice.Token, ""); len(mine.Files) != 3 || mine.Files[0].SharedBy != "" || mine.Files[0].SharedByName != "" {
		t.Errorf("alice's own list: %+v", mine.Files)
	}

	// The CLI: one SHARED BY column, the name or else the id.
	cl := newCLI(t, bin, s)
	cl.ok("pw-bob-sharer-long-enough\n", "login", "bob-sharer", "--password-stdin")
	out := cl.ok("", "ls", "--shared")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.Contains(lines[0], "SHARED BY") {
		t.Fatalf("coffer ls --shared:\n%s", out)
	}
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		name := fields[len(fields)-1]
		if by := fields[len(fields)-2]; by != cmp.Or(want[name][1], want[name][0]) {
			t.Errorf("coffer ls --shared: %s shared by %q, want %q\n%s", name, by, cmp.Or(want[name][1], want[name][0]), out)
		}
	}
}

// tokenClaim is one claim of a JWT's payload, read without verification (the services
// verify; this only looks).
func tokenClaim(t *testing.T, tok, claim string) any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m[claim]
}
