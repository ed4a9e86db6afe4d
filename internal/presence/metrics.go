package presence

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	drops     prometheus.Counter
	changes   prometheus.Counter
	coalesced prometheus.Counter
	expired   prometheus.Counter
}

func newMetrics(h *Hub, reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		drops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "presenced_listener_drops_total",
			Help: "Stream listeners dropped because their queue was full.",
		}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "presenced_contact_changes_total",
			Help: "Contact presence changes applied.",
		}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "presenced_coalesced_updates_total",
			Help: "Backend updates superseded by a later one within the coalesce interval.",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "presenced_subscriptions_expired_total",
			Help: "Client subscriptions removed by expiry.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	gauge := func(name, help string, f func(Stats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(f(h.Stats())) })
	}
	cs := []prometheus.Collector{
		// Read from the hub's own count, which Stats reports too.
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "presenced_deliveries_total",
			Help: "Presence events queued to stream listeners.",
		}, func() float64 { return float64(h.deliveries.Load()) }),
		m.drops, m.changes, m.coalesced, m.expired,
		gauge("presenced_client_subscriptions", "Client subscriptions held.", func(s Stats) int { return s.ClientSubscriptions }),
		gauge("presenced_watched_contacts", "Contacts with a wanted backend watch.", func(s Stats) int { return s.WatchedContacts }),
		gauge("presenced_stream_listeners", "Stream listeners attached to the hub.", func(s Stats) int { return s.Listeners }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("presence metrics: %w", err)
		}
	}
	return m, nil
}
