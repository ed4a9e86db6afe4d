package push

import "github.com/prometheus/client_golang/prometheus"

// The values of the result label of presenced_push_hints_total.
const (
	resultSent             = "sent"               // a 2xx from the relay
	resultRetried          = "retried"            // a failed attempt that will be retried
	resultDroppedPermanent = "dropped_permanent"  // a 4xx other than 408 and 429
	resultDroppedAttempts  = "dropped_attempts"   // Config.MaxAttempts failed attempts
	resultDroppedQueueFull = "dropped_queue_full" // Config.QueueSize subscriptions already pending
	resultDroppedShutdown  = "dropped_shutdown"   // enqueued after Run returned, or not saved at shutdown
)

// metrics are the Pusher's Prometheus collectors.
type metrics struct {
	hints    *prometheus.CounterVec
	queue    prometheus.Gauge
	delivery prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		hints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_push_hints_total",
			Help: "Push hint outcomes, by result.",
		}, []string{"result"}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "presenced_push_queue",
			Help: "Subscriptions with a push hint pending (queued, being sent or awaiting a retry).",
		}),
		delivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "presenced_push_delivery_seconds",
			Help:    "Duration of one delivery attempt to the push relay.",
			Buckets: prometheus.DefBuckets,
		}),
	}
	// Pre-create every result so that rates start from zero.
	for _, r := range []string{resultSent, resultRetried, resultDroppedPermanent,
		resultDroppedAttempts, resultDroppedQueueFull, resultDroppedShutdown} {
		m.hints.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.hints, m.queue, m.delivery)
	}
	return m
}

func (m *metrics) count(result string) { m.hints.WithLabelValues(result).Inc() }
