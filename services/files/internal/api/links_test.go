package api

import (
	"bytes"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestPlanLinkResponse: a link response is planned (bytes, and whether they start at byte 0)
// before it is sent, and the request is rewritten so that http.ServeContent sends exactly the
// plan: one range, the whole file, or no body.
func TestPlanLinkResponse(t *testing.T) {
	f := files.File{SHA256: make([]byte, 32), Size: 100}
	tag := etag(f.SHA256)
	tests := []struct {
		method    string
		h         map[string]string
		n         int64
		fresh     bool
		wantRange string
	}{
		{"GET", nil, 100, true, ""},
		{"HEAD", nil, 0, false, ""},
		{"HEAD", map[string]string{"Range": "bytes=0-"}, 0, false, "bytes=0-"},
		{"GET", map[string]string{"Range": "bytes=0-9"}, 10, true, "bytes=0-9"},
		{"GET", map[string]string{"Range": "bytes=00-9"}, 10, true, "bytes=0-9"},
		{"GET", map[string]string{"Range": "bytes=10-"}, 90, false, "bytes=10-99"},
		{"GET", map[string]string{"Range": "bytes=1-"}, 99, false, "bytes=1-99"},
		{"GET", map[string]string{"Range": "bytes=90-500"}, 10, false, "bytes=90-99"},
		{"GET", map[string]string{"Range": "bytes=10-19, 30-39"}, 100, true, ""},
		{"GET", map[string]string{"Range": "bytes=10-19,0-0"}, 100, true, ""},
		{"GET", map[string]string{"Range": "bytes=-5"}, 5, false, "bytes=95-99"},
		{"GET", map[string]string{"Range": "bytes=-500"}, 100, true, "bytes=0-99"},
		{"GET", map[string]string{"Range": "bytes=x-5"}, 100, true, ""},
		{"GET", map[string]string{"Range": "bytes=9-5"}, 100, true, ""},
		{"GET", map[string]string{"Range": "bytes=9-9"}, 1, false, "bytes=9-9"},
		{"GET", map[string]string{"Range": "bytes=+9-"}, 100, true, ""},
		{"GET", map[string]string{"Range": "items=10-"}, 100, true, ""},
		{"GET", map[string]string{"Range": "bytes=100-"}, 0, false, "bytes=100-"},
		{"GET", map[string]string{"Range": "bytes=10-", "If-Range": tag}, 90, false, "bytes=10-99"},
		{"GET", map[string]string{"Range": "bytes=10-", "If-Range": `"stale"`}, 100, true, ""},
		{"GET", map[string]string{"Range": "bytes=10-", "If-Range": "Mon, 02 Jan 2006 15:04:05 GMT"}, 100, true, ""},
		{"GET", map[string]string{"If-None-Match": tag}, 0, false, ""},
		{"GET", map[string]string{"If-None-Match": `"other", W/` + tag}, 0, false, ""},
		{"GET", map[string]string{"If-None-Match": "*"}, 0, false, ""},
		{"GET", map[string]string{"If-None-Match": `"other"`}, 100, true, ""},
		// A Range field of exactly maxRangeHeader bytes is read; one byte more is not.
		{"GET", map[string]string{"Range": "bytes=" + strings.Repeat("0", maxRangeHeader-11) + "10-19"}, 10, false, "bytes=10-19"},
		{"GET", map[string]string{"Range": "bytes=" + strings.Repeat("0", maxRangeHeader-10) + "10-19"}, 100, true, ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/v1/links/x", nil)
		for k, v := range tt.h {
			r.Header.Set(k, v)
		}
		n, fresh := planLinkResponse(r, f)
		if n != tt.n || fresh != tt.fresh || r.Header.Get("Range") != tt.wantRange || (tt.method == "GET" && r.Header.Get("If-Range") != "") {
			t.Errorf("%s %v: plan (%d, %v) Range %q, want (%d, %v) Range %q", tt.method, tt.h, n, fresh, r.Header.Get("Range"), tt.n, tt.fresh, tt.wantRange)
		}
		if n == 0 && tt.h["If-None-Match"] != "" && r.Header.Get("If-None-Match") != tag {
			t.Errorf("%v: a planned 304 leaves If-None-Match %q", tt.h, r.Header.Get("If-None-Match"))
		}
	}
	// A zero-byte file's download is one byte of the budget.
	if n, fresh := planLinkResponse(httptest.NewRequest("GET", "/", nil), files.File{SHA256: f.SHA256}); n != 1 || !fresh {
		t.Errorf("zero-byte file: (%d, %v), want (1, true)", n, fresh)
	}
}

// TestLinkHandlers drives the link routes through the router on the real parts: what a made
// link shows and records, who may list and revoke it, and what its token and short id serve,
// with the password, download count and ranges enforced.
func TestLinkHandlers(t *testing.T) {
	st := newStack(t)
	s := st.server(func(o *Options) { o.WebURL = "https://app.test" })
	body := make([]byte, 100)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	f := st.upload("user", "report.txt", body)
	base := "/v1/files/" + f.ID.String() + "/links"
	type link struct {
		ID           string    `json:"id"`
		FileID       string    `json:"file_id"`
		FileName     string    `json:"file_name"`
		URL          string    `json:"url"`
		ShortURL     string    `json:"short_url"`
		PageURL      string    `json:"page_url"`
		ExpiresAt    time.Time `json:"expires_at"`
		MaxDownloads *int      `json:"max_downloads"`
		BudgetBytes  *int64    `json:"budget_bytes"`
		Password     bool      `json:"password"`
	}
	create := func(req map[string]any) (link, *httptest.ResponseRecorder) {
		t.Helper()
		before := time.Now()
		rec := call(t, s, "POST", base, "user", req, nil)
		if rec.Code != http.StatusCreated {
			t.Fatalf("create %v: %d %s", req, rec.Code, rec.Body)
		}
		l := decodeJSON[link](t, rec)
		ttl := time.Duration(req["expires_in"].(int)) * time.Second
		if l.ExpiresAt.Before(before.Add(ttl).Truncate(time.Second)) || l.ExpiresAt.After(time.Now().Add(ttl+time.Second)) {
			t.Errorf("expires_at %v, want %v from now", l.ExpiresAt, ttl)
		}
		return l, rec
	}
	path := func(u string) string { return strings.TrimPrefix(u, "https://files.test") }

	// A link with a password and two downloads.
	guarded, rec := create(map[string]any{"expires_in": 3600, "max_downloads": 2, "password": "open sesame"})
	short := strings.TrimPrefix(guarded.ShortURL, "https://files.test/v1/s/")
	if got, want := rec.Header().Get("Location"), base+"/"+guarded.ID; got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store (the answer holds the token)", got)
	}
	if guarded.FileID != f.ID.String() || guarded.FileName != "report.txt" || !guarded.Password ||
		!strings.HasPrefix(guarded.URL, "https://files.test/v1/links/") || len(short) < 10 || strings.Contains(short, "/") ||
		guarded.PageURL != "https://app.test/s/"+short {
		t.Errorf("link %+v", guarded)
	}
	if guarded.MaxDownloads == nil || *guarded.MaxDownloads != 2 || guarded.BudgetBytes == nil || *guarded.BudgetBytes != 300 {
		t.Errorf("max_downloads %v, budget_bytes %v, want 2 and 3 × 100", guarded.MaxDownloads, guarded.BudgetBytes)
	}
	want := map[string]string{"link_id": guarded.ID, "expires_at": guarded.ExpiresAt.UTC().Format(time.RFC3339), "max_downloads": "2"}
	if got := st.auditDetails(AuditLinkCreate, f.ID.String()); len(got) != 1 || !maps.Equal(got[0], want) {
		t.Errorf("audit of link.create %v, want %v", got, want)
	}

	// A link without limits: no budget, no password; made by a server without a web page URL.
	plain, rec := create(map[string]any{"expires_in": 60})
	for _, field := range []string{`"max_downloads"`, `"budget_bytes"`} {
		if strings.Contains(rec.Body.String(), field) {
			t.Errorf("unlimited link shows %s: %s", field, rec.Body)
		}
	}
	if plain.Password || plain.PageURL == "" {
		t.Errorf("plain link %+v", plain)
	}
	if got := st.auditDetails(AuditLinkCreate, f.ID.String()); len(got) != 2 || got[1]["max_downloads"] != "" || got[1]["link_id"] != plain.ID {
		t.Errorf("audit of the unlimited link.create %v", got)
	}
	noPage := call(t, st.server(nil), "POST", base, "user", map[string]any{"expires_in": 60}, nil)
	if noPage.Code != http.StatusCreated || strings.Contains(noPage.Body.String(), "page_url") || !strings.Contains(noPage.Body.String(), `"short_url":"https://files.test/v1/s/`) {
		t.Errorf("without WebURL: %d %s", noPage.Code, noPage.Body)
	}

	t.Run("refused creations", func(t *testing.T) {
		for _, tc := range []struct {
			name, path, token string
			body              any
			status            int
			code              string
		}{
			{"no expiry", base, "user", map[string]any{}, 400, codeInvalidRequest},
			{"negative expiry", base, "user", map[string]any{"expires_in": -5}, 400, codeInvalidRequest},
			{"past the longest", base, "user", map[string]any{"expires_in": int64(1) << 40}, 400, codeInvalidRequest},
			{"zero downloads", base, "user", map[string]any{"expires_in": 60, "max_downloads": 0}, 400, codeInvalidRequest},
			{"broken JSON", base, "user", "{", 400, "invalid_json"},
			{"bad file id", "/v1/files/not-a-uuid/links", "user", map[string]any{"expires_in": 60}, 404, codeNotFound},
			{"another user's file", base, "other", map[string]any{"expires_in": 60}, 404, codeNotFound},
		} {
			wantProblem(t, tc.name, call(t, s, "POST", tc.path, tc.token, tc.body, nil), tc.status, tc.code)
		}
	})

	pw := map[string]string{linkPasswordHeader: "open sesame"}
	t.Run("download by token", func(t *testing.T) {
		rec := call(t, s, "GET", path(guarded.URL), "", nil, pw)
		if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), body) {
			t.Fatalf("GET: %d %q", rec.Code, rec.Body)
		}
		if rec.Header().Get("Referrer-Policy") != "no-referrer" || rec.Header().Get("Cache-Control") != "private, no-store" {
			t.Errorf("headers %v", rec.Header())
		}
		for _, h := range []map[string]string{nil, {linkPasswordHeader: "wrong"}} {
			rec := call(t, s, "GET", path(guarded.URL), "", nil, h)
			wantProblem(t, "without the password", rec, 404, codeNotFound)
			if rec.Header().Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("a refused link download lacks Referrer-Policy: %v", rec.Header())
			}
		}
		// A range: the bytes asked for, and only those taken from the budget.
		rec = call(t, s, "GET", path(guarded.URL), "", nil, map[string]string{linkPasswordHeader: "open sesame", "Range": "bytes=10-19"})
		if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), body[10:20]) || rec.Header().Get("Content-Range") != "bytes 10-19/100" {
			t.Errorf("range: %d %v %q", rec.Code, rec.Header(), rec.Body)
		}
		if rec := call(t, s, "HEAD", path(guarded.URL), "", nil, pw); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Errorf("HEAD: %d %q", rec.Code, rec.Body)
		}
		if got := servedBytes(t, s, guarded.ID); got != 110 {
			t.Errorf("served_bytes %d after a download, a range of 10 and a HEAD, want 110", got)
		}
		if got := st.auditDetails(AuditDownload, f.ID.String()); len(got) != 2 || got[0]["via"] != "link" || got[0]["link_id"] != guarded.ID {
			t.Errorf("audit of link downloads %v, want two via link with link_id %s", got, guarded.ID)
		}
		if rec := call(t, s, "GET", "/v1/links/forged", "", nil, nil); rec.Code != http.StatusNotFound {
			t.Errorf("forged token: %d", rec.Code)
		}
	})

	t.Run("download count", func(t *testing.T) {
		once, _ := create(map[string]any{"expires_in": 600, "max_downloads": 1})
		shortOnce := path(once.ShortURL)
		// The page's info takes nothing from the budget, however often it is asked.
		for range 3 {
			rec := call(t, s, "GET", shortOnce+"/info", "", nil, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("info: %d %s", rec.Code, rec.Body)
			}
		}
		if rec := call(t, s, "GET", shortOnce, "", nil, nil); rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), body) {
			t.Fatalf("first download: %d %q", rec.Code, rec.Body)
		}
		wantProblem(t, "second download", call(t, s, "GET", shortOnce, "", nil, nil), 404, codeNotFound)
		wantProblem(t, "info of a spent link", call(t, s, "GET", shortOnce+"/info", "", nil, nil), 404, codeNotFound)
		// A resume (not from byte 0) may still use the one size of slack.
		rec := call(t, s, "GET", shortOnce, "", nil, map[string]string{"Range": "bytes=50-"})
		if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), body[50:]) {
			t.Errorf("resume: %d %q", rec.Code, rec.Body)
		}
	})

	t.Run("short link and its info", func(t *testing.T) {
		rec := call(t, s, "GET", "/v1/s/"+short+"/info", "", nil, pw)
		if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "private, no-store" || rec.Header().Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("info: %d %v %s", rec.Code, rec.Header(), rec.Body)
		}
		info := decodeJSON[map[string]any](t, rec)
		if info["name"] != "report.txt" || info["size"] != 100.0 || info["content_type"] != "text/plain" || info["sha256"] != toJSON(f).SHA256 ||
			info["download_url"] != "https://files.test/v1/s/"+short || info["expires_at"] != guarded.ExpiresAt.Format(time.RFC3339Nano) {
			t.Errorf("info %v", info)
		}
		rec = call(t, s, "GET", "/v1/s/"+short+"/info", "", nil, nil)
		wantProblem(t, "info without the password", rec, 404, codeNotFound)
		if rec.Header().Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("a refused info lacks Referrer-Policy")
		}
		// One download and a range of 10 bytes were served: a second download (100 more bytes
		// from byte 0) would pass the 2 × 100 that responses from byte 0 may take.
		wantProblem(t, "second download by the short id", call(t, s, "GET", "/v1/s/"+short, "", nil, pw), 404, codeNotFound)
		if rec := call(t, s, "GET", "/v1/s/"+short, "", nil, map[string]string{linkPasswordHeader: "open sesame", "Range": "bytes=90-"}); rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), body[90:]) {
			t.Errorf("short resume: %d %q", rec.Code, rec.Body)
		}
	})

	t.Run("lists", func(t *testing.T) {
		all := decodeJSON[struct {
			Links []map[string]any `json:"links"`
		}](t, call(t, s, "GET", "/v1/links", "user", nil, nil))
		perFile := call(t, s, "GET", base, "user", nil, nil)
		if perFile.Code != http.StatusOK || perFile.Header().Get("Cache-Control") != "private, no-store" {
			t.Fatalf("per-file list: %d %v", perFile.Code, perFile.Header())
		}
		mine := decodeJSON[struct {
			Links []map[string]any `json:"links"`
		}](t, perFile)
		ids := map[any]bool{}
		for _, l := range mine.Links {
			ids[l["id"]] = true
		}
		if len(all.Links) != 4 || len(mine.Links) != 4 || !ids[guarded.ID] || !ids[plain.ID] {
			t.Fatalf("lists: all %v, file's %v", all.Links, mine.Links)
		}
		for _, l := range mine.Links {
			if l["url"] != nil || l["short_url"] == "" {
				t.Errorf("a listed link shows its token or lacks its short URL: %v", l)
			}
		}
		other := f2(t, st, "user")
		if got := decodeJSON[struct {
			Links []any `json:"links"`
		}](t, call(t, s, "GET", "/v1/files/"+other+"/links", "user", nil, nil)); len(got.Links) != 0 {
			t.Errorf("a file without links lists %v", got.Links)
		}
		paged := decodeJSON[struct {
			Links      []any   `json:"links"`
			NextCursor *string `json:"next_cursor"`
		}](t, call(t, s, "GET", base+"?limit=1", "user", nil, nil))
		if len(paged.Links) != 1 || paged.NextCursor == nil {
			t.Errorf("limit=1: %v", paged)
		}
		if got := decodeJSON[struct {
			Links []any `json:"links"`
		}](t, call(t, s, "GET", "/v1/links", "other", nil, nil)); len(got.Links) != 0 {
			t.Errorf("another user lists %v", got.Links)
		}
		// Another user's file, one only shared with the caller, and no file at all: 404 alike.
		if rec := call(t, s, "POST", "/v1/files/"+f.ID.String()+"/shares", "user", map[string]string{"user_id": "other"}, nil); rec.Code != http.StatusCreated {
			t.Fatalf("share: %d %s", rec.Code, rec.Body)
		}
		wantProblem(t, "shared file's links", call(t, s, "GET", base, "other", nil, nil), 404, codeNotFound)
		wantProblem(t, "unknown file's links", call(t, s, "GET", "/v1/files/"+uuid.NewString()+"/links", "user", nil, nil), 404, codeNotFound)
		wantProblem(t, "bad file id", call(t, s, "GET", "/v1/files/nope/links", "user", nil, nil), 404, codeNotFound)
	})

	t.Run("revoke", func(t *testing.T) {
		rev := base + "/" + plain.ID
		for _, tc := range []struct{ name, path, token string }{
			{"another user", rev, "other"},
			{"bad link id", base + "/nope", "user"},
			{"bad file id", "/v1/files/nope/links/" + plain.ID, "user"},
			{"unknown link", base + "/" + uuid.NewString(), "user"},
		} {
			wantProblem(t, tc.name, call(t, s, "DELETE", tc.path, tc.token, nil, nil), 404, codeNotFound)
		}
		if rec := call(t, s, "GET", path(plain.URL), "", nil, nil); rec.Code != http.StatusOK {
			t.Fatalf("before revocation: %d", rec.Code)
		}
		if rec := call(t, s, "DELETE", rev, "user", nil, nil); rec.Code != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
		}
		wantProblem(t, "revoked token", call(t, s, "GET", path(plain.URL), "", nil, nil), 404, codeNotFound)
		wantProblem(t, "revoked short link", call(t, s, "GET", path(plain.ShortURL), "", nil, nil), 404, codeNotFound)
		wantProblem(t, "revoke twice", call(t, s, "DELETE", rev, "user", nil, nil), 404, codeNotFound)
		if got := st.auditDetails(AuditLinkRevoke, f.ID.String()); len(got) != 1 || got[0]["link_id"] != plain.ID {
			t.Errorf("audit of link.revoke %v", got)
		}
	})

	t.Run("links not configured", func(t *testing.T) {
		off := st.server(func(o *Options) { o.Links = nil })
		for _, tc := range []struct{ method, path, token string }{
			{"POST", base, "user"},
			{"DELETE", base + "/" + guarded.ID, "user"},
			{"GET", base, "user"},
			{"GET", "/v1/links", "user"},
			{"GET", path(guarded.URL), ""},
			{"GET", "/v1/s/" + short, ""},
			{"GET", "/v1/s/" + short + "/info", ""},
		} {
			rec := call(t, off, tc.method, tc.path, tc.token, map[string]any{"expires_in": 60}, pw)
			wantProblem(t, tc.method+" "+tc.path, rec, 404, codeNotFound)
		}
	})
}

// servedBytes is a link's served_bytes as its owner ("user") lists it.
func servedBytes(t *testing.T, s http.Handler, linkID string) int64 {
	t.Helper()
	page := decodeJSON[struct {
		Links []struct {
			ID          string `json:"id"`
			ServedBytes int64  `json:"served_bytes"`
		} `json:"links"`
	}](t, call(t, s, "GET", "/v1/links", "user", nil, nil))
	for _, l := range page.Links {
		if l.ID == linkID {
			return l.ServedBytes
		}
	}
	t.Fatalf("link %s not listed", linkID)
	return 0
}

// f2 uploads another small file of ownerID's and returns its id.
func f2(t *testing.T, st *stack, ownerID string) string {
	t.Helper()
	return st.upload(ownerID, "other-"+uuid.NewString()+".txt", []byte("x")).ID.String()
}
