package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// auditRecord is one record of either service's audit API.
type auditRecord struct {
	Seq     int64             `json:"seq"`
	Actor   string            `json:"actor"`
	Action  string            `json:"action"`
	Target  string            `json:"target"`
	Details map[string]string `json:"details"`
}

// TestAuditScriptedRun drives both services through sign-ins, an upload, downloads by the
// owner, through a share and through a link, an admin action, and checks the records each
// service's audit log holds; then it proves the logs append-only (the application's role and
// even the owner are refused UPDATE and DELETE by PostgreSQL) and that `audit verify` of
// each binary names a row edited or deleted behind its back.
func TestAuditScriptedRun(t *testing.T) {
	// Without blob grace, so a deleted user's bytes leave the disk at once (counted below).
	dataDir := t.TempDir()
	s := startStack(t, stackOptions{FilesEnv: map[string]string{"COFFER_FILES_LINK_KEY": newLinkKey(),
		"COFFER_FILES_DATA_DIR": dataDir, "COFFER_FILES_BLOB_GRACE": "0"}})
	c := s.client()
	s.admin("root-password-long\n", "users", "create", "root")
	if out := s.admin("", "users", "grant-admin", "root"); !strings.Contains(out, "is an admin") {
		t.Fatalf("grant-admin: %s", out)
	}
	root := c.loginScope("root", "root-password-long", "files:read")
	alice, bob := c.newUser("alice", ""), c.newUser("bob", "")
	if r := c.postJSON(s.Auth.URL+"/v1/login", map[string]string{"username": "alice", "password": "not-her-password"}); r.Status != 401 {
		t.Fatalf("wrong password: %d %s", r.Status, r.Body)
	}
	f := c.upload(alice.Token, "report.txt", []byte("quarterly report"))

	get := func(url, tok string) response {
		h := map[string]string{}
		if tok != "" {
			h["Authorization"] = "Bearer " + tok
		}
		return c.do("GET", url, nil, h)
	}
	if r := get(s.Files[0].URL+"/v1/files/"+f.ID+"/content", alice.Token); r.Status != 200 {
		t.Fatalf("owner download: %d %s", r.Status, r.Body)
	}
	if r := c.do("POST", s.Files[0].URL+"/v1/files/"+f.ID+"/shares", strings.NewReader(`{"username":"bob"}`),
		map[string]string{"Authorization": "Bearer " + alice.Token, "Content-Type": "application/json"}); r.Status != 201 {
		t.Fatalf("share: %d %s", r.Status, r.Body)
	}
	if r := get(s.Files[0].URL+"/v1/files/"+f.ID+"/content", bob.Token); r.Status != 200 {
		t.Fatalf("shared download: %d %s", r.Status, r.Body)
	}
	r := c.do("POST", s.Files[0].URL+"/v1/files/"+f.ID+"/links", strings.NewReader(`{"expires_in":600}`),
		map[string]string{"Authorization": "Bearer " + alice.Token, "Content-Type": "application/json"})
	var link struct{ ID, URL string }
	if r.JSON(t, &link); r.Status != 201 {
		t.Fatalf("link: %d %s", r.Status, r.Body)
	}
	if r := get(s.Files[0].URL+link.URL, ""); r.Status != 200 {
		t.Fatalf("link download: %d %s", r.Status, r.Body)
	}

	// The owner sees who downloaded the file and how; the records are batched, so poll.
	var activity []auditRecord
	waitFor(t, 10*time.Second, "three downloads in the file's activity", func() bool {
		r := get(s.Files[0].URL+"/v1/files/"+f.ID+"/activity", alice.Token)
		var body struct{ Records []auditRecord }
		if r.Status != 200 || json.Unmarshal(r.Body, &body) != nil {
			t.Fatalf("activity: %d %s", r.Status, r.Body)
		}
		activity = body.Records
		n := 0
		for _, rec := range activity {
			if rec.Action == "file.download" {
				n++
			}
		}
		return n == 3
	})
	var got []string
	for _, rec := range activity {
		got = append(got, rec.Action+"/"+rec.Details["via"]+"/"+rec.Actor)
	}
	want := []string{"file.upload//" + alice.ID, "file.download/owner/" + alice.ID, "share.create//" + alice.ID,
		"file.download/share/" + bob.ID, "link.create//" + alice.ID, "file.download/link/"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("activity:\n got %v\nwant %v", got, want)
	}
	if last := activity[len(activity)-1]; last.Details["link_id"] != link.ID {
		t.Fatalf("link download names link %q, want %q", last.Details["link_id"], link.ID)
	}
	if r := get(s.Files[0].URL+"/v1/files/"+f.ID+"/activity", bob.Token); r.Status != 404 {
		t.Fatalf("activity for a share recipient: %d, want 404", r.Status)
	}

	// Uploads through tus are audited like one-request ones: alice's own (by her), and one
	// into her file request by an uploader without an account (no actor, the request named).
	tc := c.tus(alice.Token)
	body := []byte("resumable bytes")
	loc, r := tc.create(s.Files[0].URL, int64(len(body)), "tus.txt", nil)
	if r.Status != 201 {
		t.Fatalf("tus create: %d %s", r.Status, r.Body)
	}
	r = tc.patch(s.Files[0].URL, loc, 0, body, "")
	tusID := r.Header.Get("Coffer-File-Id")
	if r.Status != 204 || tusID == "" {
		t.Fatalf("tus patch: %d %s (file id %q)", r.Status, r.Body, tusID)
	}
	q := c.makeRequest(s.Files[0].URL, alice.Token, map[string]any{"title": "Receipts", "expires_in": 600})
	rloc, r := c.anonCreate(s.Files[0].URL, q.short(), "", len(body), "")
	if r.Status != 201 {
		t.Fatalf("request upload create: %d %s", r.Status, r.Body)
	}
	r = c.anonTus("PATCH", s.Files[0].URL+rloc, q.short(), "", body, map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
	reqID := r.Header.Get("Coffer-File-Id")
	if r.Status != 204 || reqID == "" {
		t.Fatalf("request upload patch: %d %s (file id %q)", r.Status, r.Body, reqID)
	}
	adminRecords := func(query string) []auditRecord {
		r := get(s.Files[0].URL+"/v1/admin/audit?"+query, root)
		var body struct{ Records []auditRecord }
		if r.Status != 200 || json.Unmarshal(r.Body, &body) != nil {
			t.Fatalf("files admin audit %s: %d %s", query, r.Status, r.Body)
		}
		return body.Records
	}
	waitFor(t, 10*time.Second, "the tus uploads in the file service's audit", func() bool {
		return len(adminRecords("target="+tusID)) == 1 && len(adminRecords("target="+reqID)) == 1
	})
	if rec := adminRecords("target=" + tusID)[0]; rec.Action != "file.upload" || rec.Actor != alice.ID || rec.Details["via"] != "tus" || rec.Details["name"] != "tus.txt" || rec.Details["size"] != "15" {
		t.Errorf("tus upload record: %+v", rec)
	}
	if rec := adminRecords("target=" + reqID)[0]; rec.Action != "file.request_upload" || rec.Actor != "" || rec.Details["request_id"] != q.ID {
		t.Errorf("request upload record: %+v (request %s)", rec, q.ID)
	}

	// The fate of a deleted user's files: an admin deletes all of alice's files at the file
	// service; their rows and bytes go, her quota is released, each deletion is audited.
	if r := c.do("DELETE", s.Files[0].URL+"/v1/admin/users/"+alice.ID+"/files", nil, bearer(alice.Token)); r.Status != 403 {
		t.Fatalf("alice deleting her files through the admin route: %d, want 403", r.Status)
	}
	blobsBefore := countFiles(t, dataDir)
	r = c.do("DELETE", s.Files[0].URL+"/v1/admin/users/"+alice.ID+"/files", nil, bearer(root))
	var purge struct {
		DeletedFiles    int   `json:"deleted_files"`
		DeletedBytes    int64 `json:"deleted_bytes"`
		DeletedRequests int   `json:"deleted_requests"`
	}
	if r.JSON(t, &purge); r.Status != 200 || purge.DeletedFiles != 3 || purge.DeletedBytes != int64(len("quarterly report")+2*len(body)) || purge.DeletedRequests != 1 {
		t.Fatalf("delete alice's files: %d %s", r.Status, r.Body)
	}
	if n := s.queryInt(`SELECT count(*) FROM files WHERE owner_id = $1`, alice.ID); n != 0 {
		t.Errorf("alice still owns %d file rows", n)
	}
	if n := s.queryInt(`SELECT coalesce(sum(used_bytes), 0) FROM file_usage WHERE owner_id = $1`, alice.ID); n != 0 {
		t.Errorf("alice's quota still counts %d bytes", n)
	}
	if n := countFiles(t, dataDir); n != blobsBefore-3 {
		t.Errorf("blobs on disk: %d, want %d (3 fewer)", n, blobsBefore-3)
	}
	if r := get(s.Files[0].URL+"/v1/files/"+f.ID+"/content", alice.Token); r.Status != 404 {
		t.Errorf("a deleted file still answers %d", r.Status)
	}
	if _, r := c.anonCreate(s.Files[0].URL, q.short(), "", len(body), ""); r.Status != 404 {
		t.Errorf("an upload into the deleted user's file request: %d, want 404", r.Status)
	}
	waitFor(t, 10*time.Second, "the admin's deletions in the file service's audit", func() bool {
		return len(adminRecords("action=file.delete")) == 3 && len(adminRecords("action=admin.user_files.delete")) == 1
	})
	if rec := adminRecords("action=admin.user_files.delete")[0]; rec.Actor == "" || rec.Actor == alice.ID || rec.Target != alice.ID || rec.Details["files"] != "3" || rec.Details["requests"] != "1" || rec.Details["complete"] != "true" {
		t.Errorf("user files record: %+v", rec)
	}
	if r := c.do("DELETE", s.Files[0].URL+"/v1/admin/users/"+alice.ID+"/files", nil, bearer(root)); r.Status != 200 || !strings.Contains(string(r.Body), `"deleted_files":0`) {
		t.Errorf("deleting again: %d %s", r.Status, r.Body)
	}

	// An admin disables bob through the auth service's admin API; the file service's audit
	// is the admin's to read, as JSON lines.
	if r := c.do("POST", s.Auth.URL+"/v1/admin/users/"+bob.ID+"/disable", nil, bearer(root)); r.Status != 200 {
		t.Fatalf("disable bob: %d %s", r.Status, r.Body)
	}
	if r := get(s.Files[0].URL+"/v1/admin/audit?format=jsonl&action=file.download", root); r.Status != 200 || strings.Count(string(r.Body), "\n") != 3 {
		t.Fatalf("files admin export: %d %s", r.Status, r.Body)
	}
	r = get(s.Auth.URL+"/v1/admin/audit?limit=1000", root)
	var authLog struct{ Records []auditRecord }
	if r.JSON(t, &authLog); r.Status != 200 {
		t.Fatalf("auth audit: %d %s", r.Status, r.Body)
	}
	counts := map[string]int{}
	for _, rec := range authLog.Records {
		counts[rec.Action]++
	}
	for action, min := range map[string]int{"admin.user.create": 1, "admin.user.grant_admin": 1, "login.success": 3, "login.failure": 1, "token.issue": 3, "admin.user.disable": 1} {
		if counts[action] < min {
			t.Errorf("auth audit has %d %s, want at least %d (all: %v)", counts[action], action, min, counts)
		}
	}

	// Both chains verify; the application's role may not change a row, nor may the owner.
	verify := func(bin string, env []string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "audit", "verify")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	authEnv := []string{"COFFER_AUTH_DATABASE_URL=" + s.authDB, "COFFER_AUTH_KEK=" + s.kek}
	filesEnv := []string{"COFFER_FILES_DATABASE_URL=" + s.fileDB, "COFFER_FILES_AUTH_URL=" + s.Auth.URL, "COFFER_FILES_DATA_DIR=" + t.TempDir()}
	for bin, env := range map[string][]string{bins.Auth: authEnv, bins.Files: filesEnv} {
		if out, err := verify(bin, env); err != nil || !strings.Contains(out, "audit log intact") {
			t.Fatalf("%s audit verify: %v\n%s", bin, err, out)
		}
	}
	app := appRole(t, s.fileDB)
	for _, stmt := range []string{
		`UPDATE file_audit_log SET actor = 'mallory' WHERE seq = 2`,
		`DELETE FROM file_audit_log WHERE seq = 2`,
		`TRUNCATE file_audit_log`,
	} {
		if _, err := app.Exec(context.Background(), stmt); !isPrivilegeError(err) {
			t.Errorf("application role: %s: err %v, want insufficient_privilege", stmt, err)
		}
	}
	if _, err := app.Exec(context.Background(), `SELECT count(*) FROM file_audit_log`); err != nil {
		t.Fatalf("application role cannot read the log: %v", err)
	}
	owner := superConn(t, s.fileDB)
	if _, err := owner.Exec(context.Background(), `UPDATE file_audit_log SET actor = 'mallory' WHERE seq = 2`); !isPrivilegeError(err) {
		t.Fatalf("owner's UPDATE: err %v, want the trigger's refusal", err)
	}

	// Behind the trigger's back (a superuser turning triggers off), one edit and one deletion.
	for _, tc := range []struct {
		db, table, stmt, bin, want string
		env                        []string
	}{
		{s.fileDB, "file_audit_log", `UPDATE file_audit_log SET actor = 'mallory' WHERE seq = 2`, bins.Files, "row 2: edited", filesEnv},
		{s.authDB, "auth_audit_log", `DELETE FROM auth_audit_log WHERE seq = 3`, bins.Auth, "row 4: rows 3 to 3 deleted", authEnv},
	} {
		conn := superConn(t, tc.db)
		if _, err := conn.Exec(context.Background(), `SET session_replication_role = replica`); err != nil {
			t.Fatal(err)
		}
		if tag, err := conn.Exec(context.Background(), tc.stmt); err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("%s: %v", tc.stmt, err)
		}
		out, err := verify(tc.bin, tc.env)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("after %s: audit verify err %v, output %q, want it to name %q", tc.stmt, err, out, tc.want)
		}
	}
}

// appRole connects to dsn's database as a fresh role without superuser, holding every
// privilege an application needs on every table (the migrations revoke UPDATE, DELETE and
// TRUNCATE on the audit tables from PUBLIC; the grant here gives them back explicitly, so the
// trigger is what refuses).
func appRole(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	su := superConn(t, dsn)
	var b [6]byte
	rand.Read(b[:])
	name := "app_" + hex.EncodeToString(b[:])
	for _, stmt := range []string{
		`CREATE ROLE ` + name + ` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`,
		`GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO ` + name,
	} {
		if _, err := su.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User = name
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close(context.Background())
		_, _ = su.Exec(context.Background(), `DROP OWNED BY `+name)
		_, _ = su.Exec(context.Background(), `DROP ROLE `+name)
	})
	return conn
}

// superConn connects to dsn as the test cluster's superuser.
func superConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func isPrivilegeError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42501"
}
