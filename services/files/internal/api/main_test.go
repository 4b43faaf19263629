package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/auditlog"
	"github.com/cofferhq/coffer/pkg/auditlog/auditpg"
	"github.com/cofferhq/coffer/pkg/pgtest"
	"github.com/cofferhq/coffer/services/files/internal/disk"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/linktoken"
	"github.com/cofferhq/coffer/services/files/internal/passhash"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
)

// The handlers of links, shares and usage are tested here, in the package, on the real parts:
// a migrated PostgreSQL database per test (pkg/pgtest), a disk blob store in a temporary
// folder, real link signing, password hashing and audit log. Only the bearer token check is
// roleVerifier's (tokenauth is tested on its own).
func TestMain(m *testing.M) { pgtest.Main(m) }

// stack is one test's real parts, from which servers with different Options are made.
type stack struct {
	t     *testing.T
	pool  *pgxpool.Pool
	db    *postgres.DB
	svc   *files.Service
	links *files.Links
	audit *auditlog.Batcher
	log   *auditpg.Store
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	blobs, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, linktoken.MinKeyBytes)
	rand.Read(key)
	signer, err := linktoken.New(key)
	if err != nil {
		t.Fatal(err)
	}
	db := postgres.New(pool)
	guard := files.NewGuard(passhash.New(1), db, files.DefaultGuardConfig(), nil)
	log, err := auditpg.New(pool, "file_audit_log") // cmd/coffer-files' table
	if err != nil {
		t.Fatal(err)
	}
	audit := auditlog.NewBatcher(log, discard, auditlog.DefaultBatcherConfig())
	t.Cleanup(audit.Close) // before pool.Close (cleanups run last in, first out)
	return &stack{
		t: t, pool: pool, db: db, audit: audit, log: log,
		svc:   files.NewService(db, blobs, files.Config{MaxFileSize: 1 << 20}, nil, discard),
		links: files.NewLinks(db, blobs, signer, guard, files.LinkConfig{}, nil),
	}
}

// server is a Server on the stack's parts with every option of links, sharing and usage set;
// edit changes the Options first (to leave a part out, or set URLs).
func (st *stack) server(edit func(*Options)) *Server {
	opts := Options{
		Links: st.links, Shares: files.NewSharing(st.db, nil), Quotas: st.db,
		Audit: st.audit, AuditLog: st.log, PublicURL: "https://files.test",
	}
	if edit != nil {
		edit(&opts)
	}
	return NewServer(discard, st.svc, roleVerifier{}, nil, opts)
}

// upload stores a file of ownerID's and returns it.
func (st *stack) upload(ownerID, name string, body []byte) files.File {
	st.t.Helper()
	f, err := st.svc.Upload(st.t.Context(), files.UploadRequest{OwnerID: ownerID, Name: name, ContentType: "text/plain", Body: bytes.NewReader(body)})
	if err != nil {
		st.t.Fatal(err)
	}
	return f
}

// auditDetails returns the details of the audit records of action on target, oldest first,
// once the batcher has written what it holds.
func (st *stack) auditDetails(action, target string) []map[string]string {
	st.t.Helper()
	if err := st.audit.Flush(st.t.Context()); err != nil {
		st.t.Fatal(err)
	}
	var out []map[string]string
	err := st.log.Each(st.t.Context(), auditpg.Query{Action: action, Target: target}, func(r auditlog.Record) error {
		if r.Action != action {
			return nil
		}
		var d map[string]string
		if err := json.Unmarshal([]byte(r.Details), &d); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		st.t.Fatal(err)
	}
	return out
}

// call sends one request to s as the holder of token ("" for none) and returns the answer.
// h holds further request headers.
func call(t *testing.T, s http.Handler, method, path, token string, body any, h map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// decodeJSON decodes an answer's JSON body into a T.
func decodeJSON[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("%d %q: %v", rec.Code, rec.Body, err)
	}
	return v
}

// wantProblem fails the test unless rec is a problem with that status and code.
func wantProblem(t *testing.T, what string, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	var p struct{ Code string }
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	if rec.Code != status || p.Code != code || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
		t.Errorf("%s: %d %s %q, want %d %s", what, rec.Code, rec.Header().Get("Content-Type"), rec.Body, status, code)
	}
}
