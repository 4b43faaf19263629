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
			Help: `Password logins (POST /v1/login and the sign-in form), by outcome: "ok", "invalid_credentials", "too_many_attempts" (throttled) or another problem code.`,
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
	// Password logins through the API and through the sign-in form alike.
	if c.Request.Method == http.MethodPost && (c.FullPath() == "/v1/login" || c.GetBool(loginAttemptKey)) {
		m.logins.WithLabelValues(metrics.Outcome(c)).Inc()
	}
}
