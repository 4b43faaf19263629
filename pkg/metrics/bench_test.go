package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/metrics"
)

// BenchmarkGin: the cost of the request metrics on a small request, against none.
func BenchmarkGin(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	for _, on := range []bool{false, true} {
		name := "without"
		e := gin.New()
		if on {
			name = "with"
			e.Use(metrics.NewHTTP(metrics.NewRegistry(), "bench").Gin())
		}
		e.GET("/v1/files/:id", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
		req := httptest.NewRequest("GET", "/v1/files/0b7f3f5e-2a57-4b8e-9a43-1d1c8f6f9a10", nil)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
