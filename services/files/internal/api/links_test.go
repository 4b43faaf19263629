package api

import (
	"net/http/httptest"
	"strings"
	"testing"

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
