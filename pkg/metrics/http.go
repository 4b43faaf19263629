package metrics

import (
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// CodeKey is the gin context key under which a handler records the problem code of an error
// response (SetCode), so outcome metrics can tell a quota refusal from a bad token.
const CodeKey = "metrics.code"

// SetCode records the problem code of the response being written.
func SetCode(c *gin.Context, code string) { c.Set(CodeKey, code) }

// Outcome names how a request ended: "ok" for a status below 400, else the problem code a
// handler recorded (a fixed set of constants), else "status_NNN". Never caller input.
func Outcome(c *gin.Context) string {
	s := c.Writer.Status()
	if s < 400 {
		return "ok"
	}
	if code := c.GetString(CodeKey); code != "" {
		return code
	}
	return "status_" + strconv.Itoa(s)
}

// Route is the label for a request's route: gin's route template ("/v1/links/:token"), never
// the raw path, so a link token or a file id never becomes a label; "unmatched" when no route
// matched.
func Route(c *gin.Context) string {
	if p := c.FullPath(); p != "" {
		return p
	}
	return "unmatched"
}

// HTTP holds the request metrics of one service.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
	bytesIn  *prometheus.CounterVec
	bytesOut *prometheus.CounterVec
}

// NewHTTP registers the request metrics, named namespace_http_*, on reg.
func NewHTTP(reg prometheus.Registerer, namespace string) *HTTP {
	m := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_total",
			Help: "Requests answered, by method, route template and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time from the request's arrival to the handler's return, by method and route template.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_in_flight",
			Help: "Requests being handled, by method and route template.",
		}, []string{"method", "route"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "http", Name: "request_body_bytes_total",
			Help: "Request body bytes read by handlers, by route template.",
		}, []string{"route"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "http", Name: "response_body_bytes_total",
			Help: "Response body bytes, by route template (a file sent with sendfile counts its Content-Length).",
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.bytesIn, m.bytesOut)
	return m
}

// Gin is the middleware that records every request. It does not wrap the ResponseWriter, so
// io.ReaderFrom (sendfile) and http.ResponseController keep working; it wraps only the
// request body, to count the bytes handlers read.
func (m *HTTP) Gin() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		method, route := methodLabel(c.Request.Method), Route(c)
		inFlight := m.inFlight.WithLabelValues(method, route)
		inFlight.Inc()
		var in *countingBody
		if c.Request.Body != nil && c.Request.Body != http.NoBody {
			in = &countingBody{ReadCloser: c.Request.Body}
			c.Request.Body = in
		}
		defer func() {
			inFlight.Dec()
			m.duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
			m.requests.WithLabelValues(method, route, strconv.Itoa(c.Writer.Status())).Inc()
			if in != nil {
				m.bytesIn.WithLabelValues(route).Add(float64(in.n.Load()))
			}
			m.bytesOut.WithLabelValues(route).Add(float64(bodyBytes(c)))
		}()
		c.Next()
	}
}

// bodyBytes is the size of the response body. gin counts what goes through Write, but not
// what a handler sends with sendfile through io.ReaderFrom, so the larger of that count and
// the Content-Length the handler announced is taken. A download the client abandons midway
// counts in full.
func bodyBytes(c *gin.Context) int64 {
	n := int64(max(c.Writer.Size(), 0))
	if c.Request.Method == http.MethodHead {
		return n
	}
	switch s := c.Writer.Status(); {
	case s == http.StatusNoContent, s == http.StatusNotModified, s < 200:
		return n
	}
	if cl, err := strconv.ParseInt(c.Writer.Header().Get("Content-Length"), 10, 64); err == nil && cl > n {
		return cl
	}
	return n
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
