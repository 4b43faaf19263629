package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofferhq/coffer/pkg/metrics"
)

// Metrics are the auth service's HTTP metrics: requests by route template, bytes, and logins
// by outcome. Build with NewMetrics and pass in Config.
type Metrics struct {
	http   *metrics.HTTP
	logins *prometheus.CounterVec
}

// NewMetrics registers the auth service's HTTP metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		http: metrics.NewHTTP(reg, "coffer_auth"),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coffer_auth_logins_total",
			Help: `Password logins, by outcome: "ok", "invalid_credentials", "too_many_attempts" (throttled) or another problem code.`,
		}, []string{"outcome"}),
	}
	for _, o := range []string{"ok", "invalid_credentials", "too_many_attempts"} {
		m.logins.WithLabelValues(o)
	}
	reg.MustRegister(m.logins)
	return m
}

// handlers are the middleware NewServer puts first in the chain.
func (m *Metrics) handlers() []gin.HandlerFunc {
	return []gin.HandlerFunc{m.http.Gin(), m.countLogins}
}

func (m *Metrics) countLogins(c *gin.Context) {
	c.Next()
	if c.Request.Method == http.MethodPost && c.FullPath() == "/v1/login" {
		m.logins.WithLabelValues(metrics.Outcome(c)).Inc()
	}
}
