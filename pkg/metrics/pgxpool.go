package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolStats is what PoolCollector reads; *pgxpool.Pool has it.
type PoolStats interface {
	Stat() *pgxpool.Stat
}

// PoolCollector exposes a pgx pool's statistics, read at scrape time.
type PoolCollector struct {
	pool  PoolStats
	descs poolDescs
}

type poolDescs struct {
	acquired, idle, constructing, total, max *prometheus.Desc
	acquires, emptyAcquires, canceled        *prometheus.Desc
	acquireSeconds, emptyWaitSeconds         *prometheus.Desc
	newConns, lifetimeDestroys, idleDestroys *prometheus.Desc
}

// NewPoolCollector returns a collector for pool, named namespace_db_pool_*.
func NewPoolCollector(namespace string, pool PoolStats) *PoolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "db_pool", name), help, nil, nil)
	}
	return &PoolCollector{pool: pool, descs: poolDescs{
		acquired:         d("acquired_connections", "Connections in use."),
		idle:             d("idle_connections", "Idle connections."),
		constructing:     d("constructing_connections", "Connections being opened."),
		total:            d("connections", "Open connections."),
		max:              d("max_connections", "The pool's size limit."),
		acquires:         d("acquires_total", "Connections acquired."),
		emptyAcquires:    d("empty_acquires_total", "Acquires that had to wait for a connection."),
		canceled:         d("canceled_acquires_total", "Acquires canceled by their context."),
		acquireSeconds:   d("acquire_seconds_total", "Time spent acquiring connections."),
		emptyWaitSeconds: d("empty_acquire_wait_seconds_total", "Time spent waiting because the pool was empty."),
		newConns:         d("new_connections_total", "Connections opened."),
		lifetimeDestroys: d("max_lifetime_destroys_total", "Connections closed for reaching their maximum lifetime."),
		idleDestroys:     d("max_idle_destroys_total", "Connections closed for idling too long."),
	}}
}

// Describe implements prometheus.Collector.
func (p *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	d := p.descs
	for _, x := range []*prometheus.Desc{d.acquired, d.idle, d.constructing, d.total, d.max, d.acquires,
		d.emptyAcquires, d.canceled, d.acquireSeconds, d.emptyWaitSeconds, d.newConns, d.lifetimeDestroys, d.idleDestroys} {
		ch <- x
	}
}

// Collect implements prometheus.Collector.
func (p *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s, d := p.pool.Stat(), p.descs
	g := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v)
	}
	c := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v)
	}
	g(d.acquired, float64(s.AcquiredConns()))
	g(d.idle, float64(s.IdleConns()))
	g(d.constructing, float64(s.ConstructingConns()))
	g(d.total, float64(s.TotalConns()))
	g(d.max, float64(s.MaxConns()))
	c(d.acquires, float64(s.AcquireCount()))
	c(d.emptyAcquires, float64(s.EmptyAcquireCount()))
	c(d.canceled, float64(s.CanceledAcquireCount()))
	c(d.acquireSeconds, s.AcquireDuration().Seconds())
	c(d.emptyWaitSeconds, s.EmptyAcquireWaitTime().Seconds())
	c(d.newConns, float64(s.NewConnsCount()))
	c(d.lifetimeDestroys, float64(s.MaxLifetimeDestroyCount()))
	c(d.idleDestroys, float64(s.MaxIdleDestroyCount()))
}
