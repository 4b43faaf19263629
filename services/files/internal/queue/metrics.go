package queue

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts deliveries and scans, and reports the failed deliveries and the scan backlog
// as the database holds them (every node reports the same cluster-wide figure).
type Metrics struct {
	deliveries *prometheus.CounterVec
	latency    prometheus.Histogram
	scans      *prometheus.CounterVec
}

// Backlog counts what waits (package postgres).
type Backlog interface {
	ScanBacklog(ctx context.Context) (int64, error)
	FailingDeliveries(ctx context.Context) (int64, error)
}

// NewMetrics registers the queue's metrics on reg (nil: unregistered). backlog, when set,
// is read at each scrape.
func NewMetrics(reg prometheus.Registerer, backlog ...Backlog) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coffer_files_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome (delivered, failed).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "coffer_files_webhook_delivery_seconds",
			Help:    "Time of one webhook delivery attempt.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 8),
		}),
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coffer_files_scans_total",
			Help: "Virus scans by result (clean, infected, error).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.latency, m.scans)
		for _, b := range backlog {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "coffer_files_scan_backlog",
				Help: "Files waiting for the virus scanner (pending_scan).",
			}, func() float64 { return count(b.ScanBacklog) }))
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "coffer_files_webhook_deliveries_failing",
				Help: "Webhook deliveries whose last attempt failed: waiting for a retry, or given up.",
			}, func() float64 { return count(b.FailingDeliveries) }))
		}
	}
	return m
}

func count(f func(context.Context) (int64, error)) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := f(ctx)
	if err != nil {
		return -1
	}
	return float64(n)
}

func (m *Metrics) deliveryDone(ok bool, d time.Duration) {
	outcome := "delivered"
	if !ok {
		outcome = "failed"
	}
	m.deliveries.WithLabelValues(outcome).Inc()
	m.latency.Observe(d.Seconds())
}

func (m *Metrics) scanDone(result string) { m.scans.WithLabelValues(result).Inc() }
