package keys

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes the published keys and the active key's age, read at scrape time.
type Collector struct {
	m         *Manager
	now       func() time.Time
	published *prometheus.Desc
	activeAge *prometheus.Desc
}

// NewCollector returns a collector over m's loaded keys. now is the clock (nil: time.Now).
func NewCollector(m *Manager, now func() time.Time) *Collector {
	if now == nil {
		now = time.Now
	}
	return &Collector{m: m, now: now,
		published: prometheus.NewDesc("coffer_auth_keys_published", "Signing keys in the JWK Set, by state (next, active, retired).", []string{"state"}, nil),
		activeAge: prometheus.NewDesc("coffer_auth_active_key_age_seconds", "Seconds since the active key began signing.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.published
	ch <- c.activeAge
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	n := map[State]int{StateNext: 0, StateActive: 0, StateRetired: 0}
	for _, k := range c.m.Keys() {
		n[k.State]++
	}
	for _, s := range []State{StateNext, StateActive, StateRetired} {
		ch <- prometheus.MustNewConstMetric(c.published, prometheus.GaugeValue, float64(n[s]), string(s))
	}
	if k, err := c.m.SigningKey(); err == nil {
		since := k.Sealed.CreatedAt
		if k.Sealed.ActivatedAt != nil {
			since = *k.Sealed.ActivatedAt
		}
		ch <- prometheus.MustNewConstMetric(c.activeAge, prometheus.GaugeValue, c.now().Sub(since).Seconds())
	}
}
