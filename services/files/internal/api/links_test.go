package api

import (
	"net/http/httptest"
	"testing"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestTakesDownload: a signed link's download is counted once per response that carries the
// file's first byte, never for a HEAD, a 304 or a resumed range.
func TestTakesDownload(t *testing.T) {
	f := files.File{SHA256: make([]byte, 32), Size: 100}
	tag := etag(f.SHA256)
	tests := []struct {
		method string
		h      map[string]string
		want   bool
	}{
		{"GET", nil, true},
		{"HEAD", nil, false},
		{"HEAD", map[string]string{"Range": "bytes=0-"}, false},
		{"GET", map[string]string{"Range": "bytes=0-9"}, true},
		{"GET", map[string]string{"Range": "bytes=00-9"}, true},
		{"GET", map[string]string{"Range": "bytes=10-"}, false},
		{"GET", map[string]string{"Range": "bytes=10-19, 30-39"}, false},
		{"GET", map[string]string{"Range": "bytes=10-19,0-0"}, true},
		{"GET", map[string]string{"Range": "bytes=-5"}, true},
		{"GET", map[string]string{"Range": "bytes=x-5"}, true},
		{"GET", map[string]string{"Range": "items=10-"}, true},
		{"GET", map[string]string{"Range": "bytes=10-", "If-Range": tag}, false},
		{"GET", map[string]string{"Range": "bytes=10-", "If-Range": `"stale"`}, true},
		{"GET", map[string]string{"Range": "bytes=10-", "If-Range": "Mon, 02 Jan 2006 15:04:05 GMT"}, true},
		{"GET", map[string]string{"If-None-Match": tag}, false},
		{"GET", map[string]string{"If-None-Match": `"other", W/` + tag}, false},
		{"GET", map[string]string{"If-None-Match": "*"}, false},
		{"GET", map[string]string{"If-None-Match": `"other"`}, true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/v1/links/x", nil)
		for k, v := range tt.h {
			r.Header.Set(k, v)
		}
		if got := takesDownload(r, f); got != tt.want {
			t.Errorf("%s %v: takesDownload = %v, want %v", tt.method, tt.h, got, tt.want)
		}
	}
}
