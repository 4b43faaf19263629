package httplog_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
