package e2e_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFsckCommand runs `coffer-files fsck` as cron would, against a node's disk store with a
// blob deleted by hand and one truncated by hand: it exits 4 and names both; --repair exits 1;
// then the damaged files answer 410 content_missing (by id and by link), never wrong bytes,
// the healthy file still downloads, a last check exits 0, and the metrics file says so.
func TestFsckCommand(t *testing.T) {
	t.Parallel()
	s, dir := filesStack(t, nil)
	c := s.client()
	alice := c.newUser("alice", "")
	healthy := c.upload(alice.Token, "healthy.bin", randomBytes(t, 10_000))
	gone := c.upload(alice.Token, "gone.bin", randomBytes(t, 10_000))
	short := c.upload(alice.Token, "short.bin", randomBytes(t, 10_000))
	var link struct {
		URL string `json:"url"`
	}
	r := c.do("POST", c.files+"/v1/files/"+short.ID+"/links", strings.NewReader(`{"expires_in":600}`),
		with(alice.Token, map[string]string{"Content-Type": "application/json"}))
	if r.Status != http.StatusCreated {
		t.Fatalf("link: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &link)
	blobPath := func(id string) string {
		var key string
		if err := queryRow(t, s.fileDB, `SELECT blob_key FROM files WHERE id = $1`, &key, id); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, key[:2], key[2:4], key)
	}
	if err := os.Remove(blobPath(gone.ID)); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(blobPath(short.ID), 4_000); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"COFFER_FILES_DATA_DIR": dir}
	metrics := filepath.Join(t.TempDir(), "fsck.prom")

	out, code := s.runFsck(env, "--metrics-file", metrics)
	if code != 4 || !strings.Contains(out, "missing key=") || !strings.Contains(out, "size key=") {
		t.Fatalf("fsck: exit %d, want 4 naming a missing and a size finding\n%s", code, out)
	}
	if out, code := s.runFsck(env, "--repair"); code != 1 || !strings.Contains(out, "2 row(s) marked missing") {
		t.Fatalf("fsck --repair: exit %d, want 1 with 2 rows marked\n%s", code, out)
	}
	for _, u := range []string{c.files + "/v1/files/" + gone.ID + "/content", c.files + "/v1/files/" + short.ID + "/content", c.files + link.URL} {
		expectProblem(t, "GET "+u+" after repair", c.do("GET", u, nil, bearer(alice.Token)), http.StatusGone, "content_missing")
	}
	if err := download(t.Context(), c.http, c.files+"/v1/files/"+healthy.ID+"/content", alice.Token, healthy.SHA256); err != nil {
		t.Fatalf("healthy file after repair: %v", err)
	}
	if out, code := s.runFsck(env, "--verify-digests", "--metrics-file", metrics); code != 0 || !strings.Contains(out, "2 marked missing earlier") {
		t.Fatalf("fsck after repair: exit %d, want 0 with the 2 known losses listed\n%s", code, out)
	}
	prom, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`coffer_files_fsck_problems{kind="marked-missing"} 2`, `coffer_files_fsck_unrepaired 0`, `coffer_files_fsck_success 1`} {
		if !strings.Contains(string(prom), want) {
			t.Fatalf("metrics file lacks %q:\n%s", want, prom)
		}
	}
}
