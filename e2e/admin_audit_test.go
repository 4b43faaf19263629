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
	s := startStack(t, stackOptions{FilesEnv: map[string]string{"COFFER_FILES_LINK_KEY": newLinkKey()}})
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
