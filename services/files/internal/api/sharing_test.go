package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/authclient"
)

// TestShareHandlers drives the share routes through the router on the real parts. The
// recipient named by username is resolved by the real auth client; the auth service's answer
// stands in a test server here (the real service, which is another module, answers it in
// e2e/files_share_username_test.go).
func TestShareHandlers(t *testing.T) {
	st := newStack(t)
	directory := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "Bearer user": // the caller's own token, passed on
			http.Error(w, "no", http.StatusUnauthorized)
		case r.URL.Path == "/v1/users/bob":
			w.Write([]byte(`{"id":"other","username":"bob"}`))
		default:
			http.Error(w, `{"code":"not_found"}`, http.StatusNotFound)
		}
	}))
	t.Cleanup(directory.Close)
	users, err := authclient.New(authclient.Options{BaseURL: directory.URL})
	if err != nil {
		t.Fatal(err)
	}
	s := st.server(func(o *Options) { o.Users = users })
	f := st.upload("user", "a.txt", []byte("alpha"))
	g := st.upload("user", "b.txt", []byte("beta"))
	shares := func(id uuid.UUID) string { return "/v1/files/" + id.String() + "/shares" }
	type share struct {
		FileID   string `json:"file_id"`
		UserID   string `json:"user_id"`
		Username string `json:"username"`
	}

	// other cannot see the file until it is shared.
	wantProblem(t, "before sharing", call(t, s, "GET", "/v1/files/"+f.ID.String(), "other", nil, nil), 404, codeNotFound)
	rec := call(t, s, "POST", shares(f.ID), "user", map[string]string{"user_id": "other"}, nil)
	if rec.Code != http.StatusCreated || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("share by user_id: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if got := decodeJSON[share](t, rec); got != (share{FileID: f.ID.String(), UserID: "other"}) {
		t.Errorf("share by user_id: %+v", got)
	}
	if rec := call(t, s, "GET", "/v1/files/"+f.ID.String(), "other", nil, nil); rec.Code != http.StatusOK {
		t.Errorf("the recipient reads the shared file: %d", rec.Code)
	}
	rec = call(t, s, "POST", shares(g.ID), "user", map[string]string{"username": "bob"}, nil)
	if got := decodeJSON[share](t, rec); rec.Code != http.StatusCreated || got != (share{FileID: g.ID.String(), UserID: "other", Username: "bob"}) {
		t.Errorf("share by username: %d %+v", rec.Code, got)
	}
	if got := st.auditDetails(AuditShare, g.ID.String()); len(got) != 1 || got[0]["user_id"] != "other" {
		t.Errorf("audit of share.create %v", got)
	}

	t.Run("refused shares", func(t *testing.T) {
		long := strings.Repeat("n", maxUsernameBytes)
		for _, tc := range []struct {
			name, path, token string
			body              any
			status            int
			code              string
		}{
			{"both names", shares(f.ID), "user", map[string]string{"user_id": "other", "username": "bob"}, 400, codeInvalidRequest},
			{"no name", shares(f.ID), "user", map[string]string{}, 400, codeInvalidRequest},
			{"empty username", shares(f.ID), "user", map[string]string{"username": ""}, 400, codeInvalidRequest},
			{"username too long", shares(f.ID), "user", map[string]string{"username": long + "n"}, 400, codeInvalidRequest},
			// The longest username is asked for (and the directory knows no such user).
			{"longest username", shares(f.ID), "user", map[string]string{"username": long}, 404, codeUserNotFound},
			{"unknown username", shares(f.ID), "user", map[string]string{"username": "nobody"}, 404, codeUserNotFound},
			{"broken JSON", shares(f.ID), "user", "{", 400, "invalid_json"},
			{"bad file id", "/v1/files/nope/shares", "user", map[string]string{"user_id": "other"}, 404, codeNotFound},
			{"another user's file", shares(f.ID), "other", map[string]string{"user_id": "admin"}, 404, codeNotFound},
			{"unknown file", shares(uuid.New()), "user", map[string]string{"user_id": "other"}, 404, codeNotFound},
		} {
			wantProblem(t, tc.name, call(t, s, "POST", tc.path, tc.token, tc.body, nil), tc.status, tc.code)
		}
		// Without a directory, a username cannot be resolved: the client is told to send user_id.
		noUsers := st.server(nil)
		wantProblem(t, "username without a directory", call(t, noUsers, "POST", shares(f.ID), "user", map[string]string{"username": "bob"}, nil), 400, codeInvalidRequest)
		if rec := call(t, noUsers, "POST", shares(f.ID), "user", map[string]string{"user_id": "admin"}, nil); rec.Code != http.StatusCreated {
			t.Errorf("user_id without a directory: %d %s", rec.Code, rec.Body)
		}
	})

	t.Run("list", func(t *testing.T) {
		rec := call(t, s, "GET", shares(g.ID), "user", nil, nil)
		if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "private, no-store" {
			t.Fatalf("list: %d %v", rec.Code, rec.Header())
		}
		if got := decodeJSON[struct{ Shares []share }](t, rec).Shares; len(got) != 1 || got[0] != (share{FileID: g.ID.String(), UserID: "other", Username: "bob"}) {
			t.Errorf("shares of g: %+v", got)
		}
		wantProblem(t, "the recipient lists", call(t, s, "GET", shares(g.ID), "other", nil, nil), 404, codeNotFound)
		wantProblem(t, "unknown file", call(t, s, "GET", shares(uuid.New()), "user", nil, nil), 404, codeNotFound)
		wantProblem(t, "bad file id", call(t, s, "GET", "/v1/files/nope/shares", "user", nil, nil), 404, codeNotFound)
	})

	t.Run("unshare", func(t *testing.T) {
		wantProblem(t, "the recipient unshares", call(t, s, "DELETE", shares(f.ID)+"/other", "other", nil, nil), 404, codeNotFound)
		wantProblem(t, "bad file id", call(t, s, "DELETE", "/v1/files/nope/shares/other", "user", nil, nil), 404, codeNotFound)
		wantProblem(t, "not shared with", call(t, s, "DELETE", shares(f.ID)+"/nobody", "user", nil, nil), 404, codeNotFound)
		if rec := call(t, s, "DELETE", shares(f.ID)+"/other", "user", nil, nil); rec.Code != http.StatusNoContent {
			t.Fatalf("unshare: %d %s", rec.Code, rec.Body)
		}
		wantProblem(t, "after unsharing", call(t, s, "GET", "/v1/files/"+f.ID.String(), "other", nil, nil), 404, codeNotFound)
		if got := st.auditDetails(AuditUnshare, f.ID.String()); len(got) != 1 || got[0]["user_id"] != "other" {
			t.Errorf("audit of share.delete %v", got)
		}
	})

	t.Run("sharing not configured", func(t *testing.T) {
		off := st.server(func(o *Options) { o.Shares = nil })
		for _, tc := range []struct{ method, path string }{
			{"POST", shares(g.ID)}, {"GET", shares(g.ID)}, {"DELETE", shares(g.ID) + "/other"},
		} {
			wantProblem(t, tc.method, call(t, off, tc.method, tc.path, "user", map[string]string{"user_id": "other"}, nil), 404, codeNotFound)
		}
	})
}

// TestUsageHandler: the caller's bytes and the quota that applies to them, their own before
// the configured default, null when neither is set.
func TestUsageHandler(t *testing.T) {
	st := newStack(t)
	st.upload("user", "a.txt", make([]byte, 1000))
	usage := func(s http.Handler, token string) string {
		t.Helper()
		rec := call(t, s, "GET", "/v1/usage", token, nil, nil)
		if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "private, no-store" {
			t.Fatalf("usage: %d %v %s", rec.Code, rec.Header(), rec.Body)
		}
		return strings.TrimSpace(rec.Body.String())
	}
	unlimited := st.server(nil)
	withDefault := st.server(func(o *Options) { o.DefaultQuota = 5000 })
	if got, want := usage(unlimited, "user"), `{"used_bytes":1000,"quota_bytes":null}`; got != want {
		t.Errorf("no quota: %s, want %s", got, want)
	}
	if got, want := usage(withDefault, "user"), `{"used_bytes":1000,"quota_bytes":5000}`; got != want {
		t.Errorf("default quota: %s, want %s", got, want)
	}
	if got, want := usage(withDefault, "other"), `{"used_bytes":0,"quota_bytes":5000}`; got != want {
		t.Errorf("a user without files: %s, want %s", got, want)
	}
	own := int64(3000)
	if err := st.db.SetUserQuota(t.Context(), "user", &own); err != nil {
		t.Fatal(err)
	}
	if got, want := usage(withDefault, "user"), `{"used_bytes":1000,"quota_bytes":3000}`; got != want {
		t.Errorf("own quota: %s, want %s", got, want)
	}
	wantProblem(t, "without quotas", call(t, st.server(func(o *Options) { o.Quotas = nil }), "GET", "/v1/usage", "user", nil, nil), 404, codeNotFound)
	// The store failing is an error, not a zero.
	st.pool.Close()
	if rec := call(t, unlimited, "GET", "/v1/usage", "user", nil, nil); rec.Code < 500 {
		t.Errorf("usage with the database gone: %d %s", rec.Code, rec.Body)
	}
}
