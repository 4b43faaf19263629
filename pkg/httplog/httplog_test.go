package httplog_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/httplog"
)

// TestLogCountsSendfileBytes: a body sent through io.ReaderFrom (sendfile from an *os.File,
// as http.ServeContent does) is counted in the access log's bytes, as is one sent with Write.
func TestLogCountsSendfileBytes(t *testing.T) {
	const size = 300 << 10
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, bytes.Repeat([]byte("x"), size), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(httplog.Gin(slog.New(slog.NewJSONHandler(&logs, nil))))
	e.GET("/file", func(c *gin.Context) {
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if _, ok := c.Writer.(io.ReaderFrom); !ok {
			t.Error("the writer handlers see offers no io.ReaderFrom: sendfile is off")
		}
		http.ServeContent(c.Writer, c.Request, "", time.Time{}, f)
	})
	e.GET("/range", func(c *gin.Context) {
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		http.ServeContent(c.Writer, c.Request, "", time.Time{}, f)
	})
	e.GET("/write", func(c *gin.Context) { c.String(http.StatusOK, "hello") })
	srv := httptest.NewServer(e)
	defer srv.Close()

	for _, tc := range []struct {
		path, rangeHeader string
		want              int
	}{
		{"/file", "", size},
		{"/range", "bytes=10-1033", 1024},
		{"/write", "", 5},
	} {
		req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
		if tc.rangeHeader != "" {
			req.Header.Set("Range", tc.rangeHeader)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(body) != tc.want {
			t.Fatalf("%s: body %d bytes, want %d", tc.path, len(body), tc.want)
		}
		if got := loggedBytes(t, &logs, tc.path); got != tc.want {
			t.Errorf("%s: logged bytes = %d, want %d", tc.path, got, tc.want)
		}
	}
}

// loggedBytes polls for the log line of path: it is written after the response, which the
// client may have read already.
func loggedBytes(t *testing.T, logs *syncBuffer, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var rec struct {
				Path  string `json:"path"`
				Bytes int    `json:"bytes"`
			}
			if line == "" {
				continue
			}
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if rec.Path == path {
				return rec.Bytes
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line for %s in:\n%s", path, logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
