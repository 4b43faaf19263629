package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/e2e/harness"
	"github.com/cofferhq/coffer/pkg/pgtest"
)

// TestRollingUpgradeFromPreviousRelease upgrades a running system the way docs/OPERATIONS.md
// says: nodes of the previous release (the commit CHANGELOG.md names, built from git history)
// serve traffic; this release's migrations run (the migration Job); this release's auth and
// file nodes join. The old nodes must serve every upload, download, listing, link and delete
// without one error throughout, tokens of either auth release must verify on either file
// release, and a node of the previous release must still start on the migrated databases (a
// rollback). A migration that is not expand-only fails here, named in the message.
func TestRollingUpgradeFromPreviousRelease(t *testing.T) {
	t.Parallel()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := harness.PreviousRelease(root)
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	old, err := harness.BuildRelease(bctx, root, rel, filepath.Join(root, ".cache", "release"))
	cancel()
	if err != nil {
		t.Fatal(err)
	}

	var k [32]byte
	rand.Read(k[:])
	s := &stack{t: t, kek: base64.StdEncoding.EncodeToString(k[:]), authDB: pgtest.NewDatabase(t), fileDB: pgtest.NewDatabase(t)}
	filesEnv := map[string]string{"COFFER_FILES_DATA_DIR": t.TempDir(), "COFFER_FILES_LINK_KEY": newLinkKey()}
	s.Auth = s.StartAuthBin(old.Auth, nil)
	oldFiles := s.StartFilesBin(old.Files, filesEnv)
	oldMigrations := map[string][]string{"auth": migrationNames(t, s.authDB, "auth_schema_migrations"), "files": migrationNames(t, s.fileDB, "files_schema_migrations")}

	c := &client{t: t, http: &http.Client{Timeout: 30 * time.Second}, auth: s.Auth.URL, files: oldFiles.URL}
	u := c.newUser("upgrader", "")
	before := c.upload(u.Token, "before-upgrade.bin", randomBytes(t, 40_000))

	ctx, stopTraffic := context.WithCancel(context.Background())
	defer stopTraffic()
	var wg sync.WaitGroup
	traffic := func(label, node, tok string) *trafficStats {
		st := &trafficStats{label: label}
		wg.Add(1)
		go func() { defer wg.Done(); st.run(ctx, node, tok) }()
		return st
	}
	oldTraffic := traffic("previous release's file node, previous release's token", oldFiles.URL, u.Token)
	waitFor(t, time.Minute, "traffic on the old node", func() bool { return oldTraffic.ops.Load() >= 3 || oldTraffic.failed() })

	// The migration Job: this release's migrations, while the old nodes serve.
	for _, m := range []struct{ bin, db string }{
		{bins.Auth, "COFFER_AUTH_DATABASE_URL=" + s.authDB},
		{bins.Files, "COFFER_FILES_DATABASE_URL=" + s.fileDB},
	} {
		cmd := exec.Command(m.bin, "migrate")
		cmd.Env = []string{m.db, "COFFER_AUTH_KEK=" + s.kek, "PATH=/usr/bin:/bin"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s migrate: %v\n%s", filepath.Base(m.bin), err, out)
		}
	}
	added := fmt.Sprintf("auth %v, files %v",
		newNames(migrationNames(t, s.authDB, "auth_schema_migrations"), oldMigrations["auth"]),
		newNames(migrationNames(t, s.fileDB, "files_schema_migrations"), oldMigrations["files"]))
	migrated := oldTraffic.ops.Load()

	// This release's nodes join: an auth replica on the same database and issuer, a file node
	// on the same blobs that fetches its keys from the new auth node.
	newAuth := s.StartAuth(map[string]string{"COFFER_AUTH_MIGRATE": "false"})
	newEnv := map[string]string{"COFFER_FILES_AUTH_URL": newAuth.URL, "COFFER_FILES_ISSUER": s.Auth.URL, "COFFER_FILES_MIGRATE": "false"}
	for k, v := range filesEnv {
		newEnv[k] = v
	}
	newFiles := s.StartFiles(newEnv)
	for _, n := range []struct{ bin, url string }{{bins.Files, newFiles.URL}, {bins.Auth, newAuth.URL}} {
		var h struct {
			Version string `json:"version"`
		}
		if r := c.do("GET", n.url+"/healthz", nil, nil); r.Status != http.StatusOK {
			t.Fatalf("%s/healthz: %d", n.url, r.Status)
		} else if r.JSON(t, &h); h.Version != binaryVersion(t, n.bin) || h.Version == "" {
			t.Fatalf("%s/healthz version %q, want the binary's %q", n.url, h.Version, binaryVersion(t, n.bin))
		}
	}
	nc := &client{t: t, http: c.http, auth: newAuth.URL, files: newFiles.URL}
	newTok := nc.loginScope("upgrader", "pw-upgrader-long-enough", allScopes)
	newTraffic := traffic("this release's file node, previous release's token", newFiles.URL, u.Token)
	crossTraffic := traffic("previous release's file node, this release's token", oldFiles.URL, newTok)
	waitFor(t, 2*time.Minute, "traffic on old and new nodes after the migrations", func() bool {
		return (oldTraffic.ops.Load() >= migrated+5 && newTraffic.ops.Load() >= 5 && crossTraffic.ops.Load() >= 5) ||
			oldTraffic.failed() || newTraffic.failed() || crossTraffic.failed()
	})

	// Rollback: a node of the previous release starts on the migrated databases and serves
	// what both releases wrote.
	again := s.StartFilesBin(old.Files, filesEnv)
	fromNew := nc.upload(newTok, "after-upgrade.bin", randomBytes(t, 30_000))
	for _, f := range []fileJSON{before, fromNew} {
		for _, node := range []string{again.URL, newFiles.URL, oldFiles.URL} {
			if err := download(ctx, c.http, node+"/v1/files/"+f.ID+"/content", u.Token, f.SHA256); err != nil {
				t.Errorf("%s from %s: %v", f.Name, node, err)
			}
		}
	}

	stopTraffic()
	wg.Wait()
	for _, st := range []*trafficStats{oldTraffic, newTraffic, crossTraffic} {
		if errs := st.errors(); len(errs) > 0 {
			t.Errorf("%s: %d error(s) in %d rounds while this release's migrations (%s) ran and its nodes joined; first: %s",
				st.label, len(errs), st.ops.Load(), added, errs[0])
		}
	}
	if t.Failed() {
		t.Logf("previous release %s (%s); this release's migrations: %s\nold file node log:\n%s", rel.Tag, rel.Commit, added, oldFiles.Logs())
	}
}

// trafficStats counts a traffic loop's rounds and keeps its errors.
type trafficStats struct {
	label string
	ops   atomic.Int64
	mu    sync.Mutex
	errs  []string
}

func (s *trafficStats) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err.Error())
}

func (s *trafficStats) errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

func (s *trafficStats) failed() bool { return len(s.errors()) > 0 }

// run does rounds of what a client does (upload, download with digest check, list, create a
// signed link and download through it, delete) against node until ctx ends.
func (s *trafficStats) run(ctx context.Context, node, tok string) {
	hc := &http.Client{Timeout: 20 * time.Second}
	for i := 0; ctx.Err() == nil; i++ {
		if err := round(ctx, hc, node, tok, i); err != nil {
			if ctx.Err() == nil {
				s.fail(err)
			}
			continue
		}
		s.ops.Add(1)
	}
}

func round(ctx context.Context, hc *http.Client, node, tok string, i int) error {
	data := make([]byte, 16_000+i%4096)
	rand.Read(data)
	sum := sha256.Sum256(data)
	var f fileJSON
	if err := call(ctx, hc, "POST", node+fmt.Sprintf("/v1/files?name=round-%d.bin", i), tok, bytes.NewReader(data), http.StatusCreated, &f); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if f.SHA256 != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("upload: sha256 %s, want %x", f.SHA256, sum)
	}
	if err := download(ctx, hc, node+"/v1/files/"+f.ID+"/content", tok, f.SHA256); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if err := call(ctx, hc, "GET", node+"/v1/files?limit=5", tok, nil, http.StatusOK, nil); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	var link struct {
		URL string `json:"url"`
	}
	if err := call(ctx, hc, "POST", node+"/v1/files/"+f.ID+"/links", tok, strings.NewReader(`{"expires_in":600}`), http.StatusCreated, &link); err != nil {
		return fmt.Errorf("create link: %w", err)
	}
	if err := download(ctx, hc, node+link.URL, "", f.SHA256); err != nil {
		return fmt.Errorf("link download: %w", err)
	}
	if err := call(ctx, hc, "DELETE", node+"/v1/files/"+f.ID, tok, nil, http.StatusNoContent, nil); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

// call sends one request and requires status want, decoding a JSON answer into out.
func call(ctx context.Context, hc *http.Client, method, url, tok string, body io.Reader, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		ct := "application/octet-stream"
		if method == "POST" && strings.HasSuffix(url, "/links") {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d, want %d: %.300s", method, url, resp.StatusCode, want, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// download fetches url and checks the body's SHA-256 against sha (hex).
func download(ctx context.Context, hc *http.Client, url, tok, sha string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return fmt.Errorf("GET %s: sha256 %s, want %s", url, got, sha)
	}
	return nil
}

// migrationNames lists the migrations a database records.
func migrationNames(t *testing.T, dsn, table string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT name FROM "+pgx.Identifier{table}.Sanitize()+" ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// newNames is after without the names in before.
func newNames(after, before []string) []string {
	seen := map[string]bool{}
	for _, n := range before {
		seen[n] = true
	}
	out := []string{}
	for _, n := range after {
		if !seen[n] {
			out = append(out, n)
		}
	}
	return out
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}
