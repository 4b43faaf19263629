package e2e_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/e2e/harness"
	"github.com/cofferhq/coffer/pkg/pgcluster"
	"github.com/cofferhq/coffer/pkg/s3test"
)

// TestRestoreDrill is docs/OPERATIONS.md's restore, done for real on each blob backend:
// files are uploaded, shared and linked; PostgreSQL is backed up with pg_basebackup while WAL
// is archived into a folder; more is uploaded, and files are deleted; PostgreSQL is restored
// into a fresh cluster to a point in between (a named restore point: point-in-time recovery),
// and new nodes start on it with the same KEK, link key and blob store. Every file of that
// point must download with its digest (including one deleted after it: the blob grace kept
// its bytes), its shares and links must work, a token signed before must still verify, and
// fsck must report exactly the blobs written after that point as orphans, which --repair
// then collects.
func TestRestoreDrill(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"disk", "s3"} {
		t.Run(name, func(t *testing.T) {
			var env map[string]string
			if name == "disk" {
				env = diskBackend(t).env
			} else {
				srv := s3test.Start(t)
				env = s3Env(srv, srv.Bucket)
			}
			restoreDrill(t, env)
		})
	}
}

func restoreDrill(t *testing.T, storage map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pgBin := pgBinDir(t)
	archive := postgresDir(t)

	// The live cluster, archiving its WAL into the folder as archive_command.
	live, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Stop(context.Background()) })
	sqlExec(t, live.DSN("postgres"), `ALTER SYSTEM SET archive_mode = 'on'`)
	sqlExec(t, live.DSN("postgres"), fmt.Sprintf(`ALTER SYSTEM SET archive_command = 'test ! -f %[1]s/%%f && cp %%p %[1]s/%%f'`, archive))
	if err := live.StopServer(ctx); err != nil {
		t.Fatal(err)
	}
	if err := live.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"coffer_auth", "coffer_files"} {
		if err := live.CreateDatabase(ctx, db); err != nil {
			t.Fatal(err)
		}
	}

	linkKey := newLinkKey()
	filesEnv := map[string]string{"COFFER_FILES_LINK_KEY": linkKey}
	for k, v := range storage {
		filesEnv[k] = v
	}
	s := &stack{t: t, kek: newLinkKey(), authDB: live.DSN("coffer_auth"), fileDB: live.DSN("coffer_files")}
	s.Auth = s.StartAuth(nil)
	node := s.StartFiles(filesEnv)
	s.Files = append(s.Files, node)
	c := s.client()
	alice, bob := c.newUser("alice", ""), c.newUser("bob", "")

	// Before the base backup.
	kept := c.upload(alice.Token, "kept.bin", randomBytes(t, 300_000))
	shared := c.upload(alice.Token, "shared.txt", []byte("for bob"))
	if r := c.do("POST", c.files+"/v1/files/"+shared.ID+"/shares", strings.NewReader(`{"user_id":"`+bob.ID+`"}`),
		with(alice.Token, map[string]string{"Content-Type": "application/json"})); r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("share: %d %s", r.Status, r.Body)
	}

	base := filepath.Join(postgresDir(t), "data")
	runAsPostgres(t, filepath.Join(pgBin, "pg_basebackup"), "-h", socketDir(t, live.DSN("postgres")), "-U", "postgres",
		"-D", base, "-X", "stream", "-c", "fast")

	// After the base backup, before the restore point: only the archived WAL has these.
	linked := c.upload(alice.Token, "linked.bin", randomBytes(t, 70_000))
	var link struct {
		URL string `json:"url"`
	}
	r := c.do("POST", c.files+"/v1/files/"+linked.ID+"/links", strings.NewReader(`{"expires_in":3600}`),
		with(alice.Token, map[string]string{"Content-Type": "application/json"}))
	if r.Status != http.StatusCreated {
		t.Fatalf("link: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &link)
	deletedLater := c.upload(alice.Token, "deleted-later.bin", randomBytes(t, 50_000))
	tokenBefore := alice.Token
	sqlExec(t, live.DSN("postgres"), `SELECT pg_create_restore_point('coffer-drill')`)
	pointFiles := []fileJSON{kept, shared, linked, deletedLater}

	// After the point: uploads, one of them deleted again, and a delete of a file of the point.
	var newer []fileJSON
	var wantOrphans []string // their blobs (the API does not show blob keys)
	for i := range 3 {
		f := c.upload(alice.Token, fmt.Sprintf("newer-%d.bin", i), randomBytes(t, 20_000+i))
		newer = append(newer, f)
		var key string
		if err := queryRow(t, s.fileDB, `SELECT blob_key FROM files WHERE id = $1`, &key, f.ID); err != nil {
			t.Fatal(err)
		}
		wantOrphans = append(wantOrphans, key)
	}
	slices.Sort(wantOrphans)
	for _, id := range []string{newer[2].ID, deletedLater.ID} {
		if r := c.do("DELETE", c.files+"/v1/files/"+id, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
	}
	// Close the WAL segment holding all this and wait for the archive to have it.
	var segment string
	if err := queryRow(t, live.DSN("postgres"), `SELECT pg_walfile_name(pg_switch_wal())`, &segment); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "WAL segment "+segment+" archived", func() bool {
		_, err := os.Stat(filepath.Join(archive, segment))
		return err == nil
	})

	// Disaster: the nodes and the database are gone. Restore into a fresh cluster.
	authAddr := s.Auth.Addr
	for _, p := range []*harness.Process{node, s.Auth} {
		if err := p.Stop(20 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := live.StopServer(ctx); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(base, "postgresql.auto.conf"), fmt.Sprintf(
		"archive_mode = 'off'\nrestore_command = 'cp %s/%%f %%p'\nrecovery_target_name = 'coffer-drill'\nrecovery_target_action = 'promote'\n", archive))
	appendFile(t, filepath.Join(base, "recovery.signal"), "")
	restored, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: base})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restored.Stop(context.Background()) })

	// New nodes on the restored databases, with the same KEK, link key, blob store and
	// public address (the issuer of the tokens signed before).
	rs := &stack{t: t, kek: s.kek, authDB: restored.DSN("coffer_auth"), fileDB: restored.DSN("coffer_files")}
	rs.Auth = rs.StartAuth(map[string]string{"COFFER_AUTH_ADDR": authAddr})
	rnode := rs.StartFiles(filesEnv)
	rs.Files = append(rs.Files, rnode)
	rc := rs.client()
	for _, f := range pointFiles {
		if err := download(ctx, rc.http, rnode.URL+"/v1/files/"+f.ID+"/content", tokenBefore, f.SHA256); err != nil {
			t.Errorf("%s (a file of the restored point, with a token signed before): %v", f.Name, err)
		}
	}
	for _, f := range newer {
		if r := rc.do("GET", rnode.URL+"/v1/files/"+f.ID, nil, bearer(tokenBefore)); r.Status != http.StatusNotFound {
			t.Errorf("%s (written after the point): %d, want 404", f.Name, r.Status)
		}
	}
	if err := download(ctx, rc.http, rnode.URL+"/v1/files/"+shared.ID+"/content", bob.Token, shared.SHA256); err != nil {
		t.Errorf("the share of the point (bob's token signed before): %v", err)
	}
	if err := download(ctx, rc.http, rnode.URL+link.URL, "", linked.SHA256); err != nil {
		t.Errorf("the link of the point: %v", err)
	}
	if tok := rc.loginScope("alice", "pw-alice-long-enough", allScopes); tok == "" {
		t.Error("alice cannot log in on the restored auth service")
	}

	// fsck: exactly the blobs written after the point are orphans (the deleted-later file's
	// blob is referenced again); --repair collects them, and a last check is clean.
	fsckEnv := map[string]string{"COFFER_FILES_GC_GRACE": "1ms"}
	for k, v := range filesEnv {
		fsckEnv[k] = v
	}
	out, code := rs.runFsck(fsckEnv)
	if got := fsckKeys(out, "orphan"); code != 4 || !slices.Equal(got, wantOrphans) || strings.Contains(out, "missing key=") || strings.Contains(out, "size key=") {
		t.Fatalf("fsck after the restore: exit %d, orphans %v; want exit 4 and orphans %v (the newer blobs) and nothing missing\n%s", code, got, wantOrphans, out)
	}
	if out, code := rs.runFsck(fsckEnv, "--repair", "--verify-digests"); code != 1 || !strings.Contains(out, "3 orphan(s) and 0 expired upload(s) collected") {
		t.Fatalf("fsck --repair: exit %d, want 1 with 3 orphans collected\n%s", code, out)
	}
	if out, code := rs.runFsck(fsckEnv, "--verify-digests"); code != 0 || !strings.Contains(out, "4 digest(s) verified") {
		t.Fatalf("fsck after repair: exit %d, want 0 with 4 digests verified\n%s", code, out)
	}
	for _, f := range pointFiles {
		if err := download(ctx, rc.http, rnode.URL+"/v1/files/"+f.ID+"/content", tokenBefore, f.SHA256); err != nil {
			t.Errorf("%s after fsck --repair: %v", f.Name, err)
		}
	}
}

// runFsck runs `coffer-files fsck args...` on the stack's file database and returns its
// output and exit status.
func (s *stack) runFsck(env map[string]string, args ...string) (string, int) {
	s.t.Helper()
	full := map[string]string{"COFFER_FILES_DATABASE_URL": s.fileDB, "COFFER_FILES_AUTH_URL": s.Auth.URL}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.Files, append([]string{"fsck"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, harness.Env(full)...)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		s.t.Fatalf("coffer-files fsck: %v\n%s", err, out)
	}
	return string(out), 0
}

// fsckKeys lists the keys of fsck's output lines of kind, sorted.
func fsckKeys(out, kind string) []string {
	var keys []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), kind+" key="); ok {
			keys = append(keys, strings.TrimSuffix(strings.Fields(rest)[0], ":"))
		}
	}
	slices.Sort(keys)
	return keys
}

func queryRow(t *testing.T, dsn, sql string, dest any, args ...any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql, args...).Scan(dest)
}

// pgBinDir finds the PostgreSQL server binaries (pg_basebackup among them), as pgcluster does.
func pgBinDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_basebackup")); err == nil {
			return dirs[i]
		}
	}
	if p, err := exec.LookPath("pg_basebackup"); err == nil {
		return filepath.Dir(p)
	}
	t.Fatal("pg_basebackup not found: install the postgresql package or set PG_BINDIR")
	return ""
}

// postgresDir makes a folder the postgres user owns and reaches (the server runs as postgres
// when the tests run as root), removed when the test ends.
func postgresDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "coffer-drill-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := osuser.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runAsPostgres runs a PostgreSQL client program, as the postgres user when root.
func runAsPostgres(t *testing.T, prog string, args ...string) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", prog}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", filepath.Base(prog), err, out)
	}
}

// socketDir is the host (a Unix socket folder) of a pgcluster DSN.
func socketDir(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("host")
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if u, err := osuser.Lookup("postgres"); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			os.Chown(path, uid, gid)
		}
	}
}
