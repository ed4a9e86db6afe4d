package xmpp

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the XMPP backend's collectors, by cluster.
type metrics struct {
	presences    *prometheus.CounterVec
	stanzaErrors *prometheus.CounterVec
	up           *prometheus.GaugeVec
	watched      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := metrics{
		presences: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_xmpp_presences_total",
			Help: "Presence stanzas received, by cluster.",
		}, []string{"cluster"}),
		stanzaErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_xmpp_stanza_errors_total",
			Help: "Presence stanzas that could not be read, by cluster.",
		}, []string{"cluster"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "presenced_xmpp_cluster_up",
			Help: "1 while the cluster's connection delivers presence (connected, and privileged in component mode).",
		}, []string{"cluster"}),
		watched: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "presenced_xmpp_watches",
			Help: "Watches held, by cluster.",
		}, []string{"cluster"}),
	}
	for _, c := range []prometheus.Collector{m.presences, m.stanzaErrors, m.up, m.watched} {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}
