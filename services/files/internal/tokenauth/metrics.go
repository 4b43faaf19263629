package tokenauth

import (
	"context"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts JWK Set fetches and reports the key set's age. Put Transport in the
// Verifier's Options.Client, since every fetch keyfunc makes goes through that client.
type Metrics struct {
	fetches  *prometheus.CounterVec
	lastGood atomic.Int64 // unix nanoseconds of the last successful fetch; 0 before it
	now      func() time.Time
}

// NewMetrics registers the JWKS metrics on reg. now is the clock (nil: time.Now).
func NewMetrics(reg prometheus.Registerer, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{now: now, fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "coffer_files_jwks_fetches_total",
		Help: `JWK Set fetches (the first load and every refresh), by outcome: "ok" or "error".`,
	}, []string{"outcome"})}
	m.fetches.WithLabelValues("ok")
	m.fetches.WithLabelValues("error")
	reg.MustRegister(m.fetches, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "coffer_files_jwks_age_seconds",
		Help: "Seconds since the JWK Set was last fetched successfully (NaN before the first).",
	}, m.age))
	return m
}

func (m *Metrics) age() float64 {
	last := m.lastGood.Load()
	if last == 0 {
		return math.NaN()
	}
	return m.now().Sub(time.Unix(0, last)).Seconds()
}

// Transport wraps next (nil: http.DefaultTransport) to count fetches.
func (m *Metrics) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return countingTransport{m: m, next: next}
}

// WatchKeys registers a gauge of the number of keys v holds.
func (m *Metrics) WatchKeys(reg prometheus.Registerer, v *Verifier) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "coffer_files_jwks_keys",
		Help: "Verification keys in the cached JWK Set.",
	}, func() float64 {
		kf := v.kf.Load()
		if kf == nil {
			return 0
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		keys, err := (*kf).Storage().KeyReadAll(ctx)
		if err != nil {
			return 0
		}
		return float64(len(keys))
	}))
}

type countingTransport struct {
	m    *Metrics
	next http.RoundTripper
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
		t.m.fetches.WithLabelValues("error").Inc()
		return resp, err
	}
	t.m.fetches.WithLabelValues("ok").Inc()
	t.m.lastGood.Store(t.m.now().UnixNano())
	return resp, err
}
