package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/e2e/harness"
	"github.com/cofferhq/coffer/pkg/pgcluster"
)

// The fault suite (SECURITY.md H) kills, stops and starves real processes. Processes it
// kills on purpose are started with startProc, whose cleanup does not treat a killed
// process as a failure.

// startProc starts a binary without waiting for readiness and kills it (if still running)
// when the test ends.
func startProc(t testing.TB, name, bin, addr string, env map[string]string) *harness.Process {
	t.Helper()
	p, err := harness.Start(harness.Spec{Name: name, Bin: bin, Addr: addr, Env: harness.Env(env)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill() })
	return p
}

func waitReady(t testing.TB, p *harness.Process, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := p.WaitReady(ctx, "/readyz"); err != nil {
		t.Fatal(err)
	}
}

// filesEnv is the environment of a file node of stack s on dataDir.
func filesEnv(s *stack, addr, dataDir string, extra map[string]string) map[string]string {
	env := map[string]string{
		"COFFER_FILES_ADDR":         addr,
		"COFFER_FILES_DATABASE_URL": s.fileDB,
		"COFFER_FILES_AUTH_URL":     s.Auth.URL,
		"COFFER_FILES_DATA_DIR":     dataDir,
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// dedicatedCluster starts a PostgreSQL cluster of this test's own (the fault tests stop it)
// with databases auth and files.
func dedicatedCluster(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c.StartServer(ctx) // Stop needs a running server; a test may leave it stopped.
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
	})
	for _, db := range []string{"auth", "files"} {
		if err := c.CreateDatabase(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// stackOn is a stack whose databases live on cluster c; auth is not started.
func stackOn(t testing.TB, c *pgcluster.Cluster) *stack {
	var k [32]byte
	rand.Read(k[:])
	return &stack{t: t, kek: base64.StdEncoding.EncodeToString(k[:]), authDB: c.DSN("auth"), fileDB: c.DSN("files")}
}

// tempFiles lists the upload temp files under dir.
func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// blobPaths lists the committed-looking blobs (not temp files) under dir.
func blobPaths(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

var faultBin struct {
	once sync.Once
	path string
	err  error
}

// faultInjectFiles builds coffer-files with -tags faultinject (crash points compiled in),
// once per test binary.
func faultInjectFiles(t testing.TB) string {
	t.Helper()
	faultBin.once.Do(func() {
		root, err := harness.RepoRoot()
		if err != nil {
			faultBin.err = err
			return
		}
		dir := filepath.Dir(bins.Files)
		faultBin.path = filepath.Join(dir, "coffer-files-faultinject")
		cmd := exec.Command("go", "build", "-tags", "faultinject", "-o", faultBin.path, "./services/files/cmd/coffer-files")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			faultBin.err = err
			faultBin.path = string(out)
		}
	})
	if faultBin.err != nil {
		t.Fatalf("build faultinject binary: %v\n%s", faultBin.err, faultBin.path)
	}
	return faultBin.path
}
