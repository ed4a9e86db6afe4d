package sip

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/sip/watcher"
)

// metrics are the SIP backend's collectors.
type metrics struct {
	dialogs           *prometheus.GaugeVec   // by endpoint identity
	subscribeFailures *prometheus.CounterVec // by SIP status, or "transport"
	notifies          prometheus.Counter
	lost              prometheus.Counter
	refreshLag        prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := metrics{
		dialogs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "presenced_sip_subscriptions",
			Help: "SIP presence subscriptions held, by endpoint identity.",
		}, []string{"endpoint"}),
		subscribeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_sip_subscribe_failures_total",
			Help: "SUBSCRIBEs of new watches that failed, by SIP status (or transport).",
		}, []string{"status"}),
		notifies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "presenced_sip_notifies_total",
			Help: "NOTIFYs with presence received for watched contacts.",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "presenced_sip_subscriptions_lost_total",
			Help: "Subscriptions lost (refresh refused or failed, terminated by the server) and re-established.",
		}),
		refreshLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "presenced_sip_refresh_lag_seconds",
			Help:    "How long after it was due each accepted subscription refresh was answered.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	for _, c := range []prometheus.Collector{m.dialogs, m.subscribeFailures, m.notifies, m.lost, m.refreshLag} {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}

// failureStatus is the status label of a failed SUBSCRIBE.
func failureStatus(err error) string {
	var se *watcher.StatusError
	if errors.As(err, &se) {
		return strconv.Itoa(se.Code)
	}
	return "transport"
}
