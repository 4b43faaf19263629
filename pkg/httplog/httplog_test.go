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

// newEngine returns an engine with both middlewares logging JSON lines into buf.
func newEngine(buf *bytes.Buffer) *gin.Engine {
	logger := slog.New(slog.NewJSONHandler(buf, nil))
	e := gin.New()
	e.Use(httplog.Gin(logger), httplog.Recovery(logger))
	return e
}

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestRequestLine: one line per request with method, path, status, bytes and client
// address, and never the query string or a header.
func TestRequestLine(t *testing.T) {
	var buf bytes.Buffer
	e := newEngine(&buf)
	e.GET("/v1/files/:id", func(c *gin.Context) { c.String(http.StatusTeapot, "hello") })
	r := httptest.NewRequest(http.MethodGet, "/v1/files/42?access_token=SECRET", nil)
	r.Header.Set("Authorization", "Bearer SECRET")
	r.RemoteAddr = "192.0.2.7:5555"
	e.ServeHTTP(httptest.NewRecorder(), r)

	ls := lines(t, &buf)
	if len(ls) != 1 {
		t.Fatalf("%d log lines, want 1", len(ls))
	}
	l := ls[0]
	for k, want := range map[string]any{"msg": "request", "level": "INFO", "method": "GET", "path": "/v1/files/42", "status": float64(418), "bytes": float64(5), "remote": "192.0.2.7"} {
		if l[k] != want {
			t.Errorf("%s = %v, want %v", k, l[k], want)
		}
	}
	if _, ok := l["duration"]; !ok {
		t.Error("no duration")
	}
	if strings.Contains(buf.String(), "SECRET") {
		t.Fatalf("the log holds the query string or a header: %s", buf.String())
	}
}

// TestPathKey: a handler can replace the logged path (a signed link's token stays out).
func TestPathKey(t *testing.T) {
	var buf bytes.Buffer
	e := newEngine(&buf)
	e.GET("/v1/links/:token", func(c *gin.Context) {
		c.Set(httplog.PathKey, "/v1/links/{token}")
		c.Status(http.StatusNoContent)
	})
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/links/SECRETTOKEN", nil))
	if l := lines(t, &buf)[0]; l["path"] != "/v1/links/{token}" || strings.Contains(buf.String(), "SECRETTOKEN") {
		t.Fatalf("logged %s", buf.String())
	}
}

// TestRecovery: a panic becomes a logged 500 problem and the server goes on; a panic after
// the response began leaves it alone; http.ErrAbortHandler is passed on.
func TestRecovery(t *testing.T) {
	var buf bytes.Buffer
	e := newEngine(&buf)
	e.GET("/panic", func(c *gin.Context) { panic("db handle is nil") })
	e.GET("/late", func(c *gin.Context) {
		c.String(http.StatusOK, "partial")
		panic("late")
	})
	e.GET("/abort", func(c *gin.Context) { panic(http.ErrAbortHandler) })

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/panic", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 500 || rec.Header().Get("Content-Type") != "application/problem+json" || strings.Contains(string(body), "db handle") {
		t.Fatalf("panic answered %d %q %s", rec.Code, rec.Header().Get("Content-Type"), body)
	}
	ls := lines(t, &buf)
	if len(ls) != 2 || ls[0]["msg"] != "panic" || ls[0]["level"] != "ERROR" || ls[0]["err"] != "db handle is nil" || ls[1]["status"] != float64(500) {
		t.Fatalf("log lines %v, want the panic then the request", ls)
	}

	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/late", nil))
	if rec.Code != 200 || rec.Body.String() != "partial" {
		t.Fatalf("late panic: %d %q, want the response as it began", rec.Code, rec.Body)
	}

	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler passed on", r)
		}
	}()
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/abort", nil))
	t.Fatal("ErrAbortHandler was swallowed")
}

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
