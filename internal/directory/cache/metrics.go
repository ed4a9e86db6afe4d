package cache

import (
	"github.com/prometheus/client_golang/prometheus"

	pmetrics "github.com/presenced/presenced/internal/metrics"
)

// metrics are the cache's Prometheus metrics. Label values are fixed
// words, never an email.
type metrics struct {
	// lookups counts Lookups by result: hit, negative_hit (an
	// ErrNotFound from the cache), miss (the directory answered, found
	// or not) and error (any other failure, not cached).
	lookups *prometheus.CounterVec
	// query times calls to the directory by op, lookup or search.
	query *prometheus.HistogramVec
	// entries is the number of entries held; it moves by Inc and Dec
	// so that caches sharing a registry add up.
	entries prometheus.Gauge
}

// newMetrics makes the metrics and registers them with reg, if not nil.
// Metrics another Cache registered with reg already are shared with it.
// It panics if reg refuses them otherwise (a conflicting metric of the
// same name: a programming error).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_directory_lookups_total",
			Help: "Directory lookups by result: hit, negative_hit, miss, error.",
		}, []string{"result"}),
		query: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "presenced_directory_query_seconds",
			Help:    "Duration of calls to the directory behind the cache, by op.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"op"}),
		entries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "presenced_directory_cache_entries",
			Help: "Entries held by the directory cache, positive and negative.",
		}),
	}
	if reg == nil {
		return m
	}
	m.lookups = pmetrics.Register(reg, m.lookups)
	m.query = pmetrics.Register(reg, m.query)
	m.entries = pmetrics.Register(reg, m.entries)
	return m
}
