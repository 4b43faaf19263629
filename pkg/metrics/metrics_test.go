package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofferhq/coffer/pkg/metrics"
)

// readerFromWriter passes the connection's io.ReaderFrom through, as the file service does
// for sendfile, and records whether it was used.
type readerFromWriter struct {
	gin.ResponseWriter
	used *bool
}

func (w readerFromWriter) ReadFrom(r io.Reader) (int64, error) {
	w.ResponseWriter.WriteHeaderNow()
	rf, ok := w.ResponseWriter.(interface{ Unwrap() http.ResponseWriter }).Unwrap().(io.ReaderFrom)
	if !ok {
		panic("the middleware hid io.ReaderFrom")
	}
	*w.used = true
	return rf.ReadFrom(r)
}

func TestHTTPMetrics(t *testing.T) {
	const token = "secret-link-token-0123456789"
	path := filepath.Join(t.TempDir(), "blob")
	content := strings.Repeat("x", 100_000)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	m := metrics.NewHTTP(reg, "test")
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(m.Gin())
	var sendfile bool
	e.GET("/v1/links/:token", func(c *gin.Context) {
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		http.ServeContent(readerFromWriter{c.Writer, &sendfile}, c.Request, "", time.Time{}, f)
	})
	e.POST("/v1/files", func(c *gin.Context) {
		n, _ := io.Copy(io.Discard, c.Request.Body)
		c.String(http.StatusCreated, "%d", n)
	})
	srv := httptest.NewServer(e)
	defer srv.Close()

	for _, req := range []struct{ method, path, body string }{
		{"GET", "/v1/links/" + token, ""},
		{"GET", "/v1/links/" + token, ""},
		{"POST", "/v1/files", "hello world"},
		{"GET", "/nowhere/" + token, ""},
		{"BREW", "/v1/files", ""},
	} {
		r, _ := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader(req.body))
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if !sendfile {
		t.Error("the download did not go through io.ReaderFrom")
	}
	for _, tc := range []struct {
		name string
		want float64
	}{
		{`test_http_requests_total{code="200",method="GET",route="/v1/links/:token"}`, 2},
		{`test_http_requests_total{code="201",method="POST",route="/v1/files"}`, 1},
		{`test_http_requests_total{code="404",method="GET",route="unmatched"}`, 1},
		{`test_http_requests_total{code="404",method="OTHER",route="unmatched"}`, 1},
		{`test_http_response_body_bytes_total{route="/v1/links/:token"}`, 200_000},
		{`test_http_request_body_bytes_total{route="/v1/files"}`, 11},
		{`test_http_requests_in_flight{method="GET",route="/v1/links/:token"}`, 0},
	} {
		if got := value(t, reg, tc.name); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
	body := scrape(t, reg)
	if strings.Contains(body, token) {
		t.Errorf("a label holds the link token:\n%s", body)
	}
}

func TestPoolCollector(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), "postgres://127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	reg := metrics.NewRegistry()
	reg.MustRegister(metrics.NewPoolCollector("test", pool))
	if got := value(t, reg, "test_db_pool_max_connections"); got < 1 {
		t.Errorf("max connections = %v, want the pool's limit", got)
	}
}

func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d", rec.Code)
	}
	return rec.Body.String()
}

// value is the sample named series (name{labels} as exposed), or -1 when absent.
func value(t *testing.T, reg *prometheus.Registry, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(scrape(t, reg), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return -1
}
