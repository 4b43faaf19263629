package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofferhq/coffer/pkg/metrics"
)

// Metrics are the file service's HTTP metrics: requests by route template, bytes, uploads by
// outcome and token rejections by reason. Build with NewMetrics and pass in Options.
type Metrics struct {
	http     *metrics.HTTP
	uploads  *prometheus.CounterVec
	rejected *prometheus.CounterVec
}

// NewMetrics registers the file service's HTTP metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		http: metrics.NewHTTP(reg, "coffer_files"),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coffer_files_uploads_total",
			Help: `Uploads finished, by outcome: "ok" or the problem code of the refusal (file_too_large, quota_exceeded, ...).`,
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coffer_files_token_rejections_total",
			Help: "Requests refused for their access token, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.uploads, m.rejected)
	return m
}

// handlers are the middleware NewServer puts first in the chain.
func (m *Metrics) handlers() []gin.HandlerFunc {
	return []gin.HandlerFunc{m.http.Gin(), m.countUploads}
}

// countUploads counts every upload request by how it ended.
func (m *Metrics) countUploads(c *gin.Context) {
	c.Next()
	if c.Request.Method == http.MethodPost && c.FullPath() == "/v1/files" {
		m.uploads.WithLabelValues(metrics.Outcome(c)).Inc()
	}
}

// tokenRejected counts a refused token; m may be nil.
func (m *Metrics) tokenRejected(reason string) {
	if m != nil {
		m.rejected.WithLabelValues(reason).Inc()
	}
}

// rejectionReason names why a token failed verification, from a fixed set.
func rejectionReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "not_yet_valid"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad_signature"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unknown_key"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong_issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong_audience"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	}
	return "invalid"
}
