package ldap

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Operations, the op label.
const (
	opLookup = "lookup"
	opSearch = "search"
	opHealth = "health"
)

// Outcomes, the result label.
const (
	resultOK          = "ok"
	resultNotFound    = "not_found"
	resultInvalid     = "invalid"
	resultUnavailable = "unavailable"
	// Authenticate's refusals: not outages.
	resultBadCredentials = "bad_credentials"
	resultNotMember      = "not_member"
)

// metrics are the directory's collectors.
type metrics struct {
	requests    *prometheus.CounterVec
	seconds     *prometheus.HistogramVec
	connections prometheus.Gauge
	redials     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_ldap_requests_total",
			Help: "Directory requests, by operation (lookup, search, health, authenticate) and result (ok, not_found, invalid, unavailable, bad_credentials, not_member).",
		}, []string{"op", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "presenced_ldap_request_seconds",
			Help:    "Time to answer a directory request, connection and re-dial included, by operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"op"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "presenced_ldap_pool_connections",
			Help: "LDAP connections open (idle or in use).",
		}),
		redials: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "presenced_ldap_redials_total",
			Help: "Connections replaced after they failed or were found closed.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.seconds, m.connections, m.redials} {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}
