package stream

import (
	"github.com/prometheus/client_golang/prometheus"

	pmetrics "github.com/presenced/presenced/internal/metrics"
)

// The transport label values.
const (
	transportWebSocket = "websocket"
	transportSSE       = "sse"
)

// The reasons of presenced_stream_drops_total: why presenced ended a
// stream the client had not asked to end.
const (
	dropSlowConsumer = "slow_consumer" // the listener's queue overflowed
	dropWriteTimeout = "write_timeout" // a write did not finish within WriteTimeout
	dropWriteError   = "write_error"   // a write failed otherwise
	dropPongTimeout  = "pong_timeout"  // a WebSocket client stopped answering pings
)

// metrics are the stream's Prometheus collectors, with every label value
// bound up front so the event path does no label lookups.
type metrics struct {
	clients map[string]prometheus.Gauge   // by transport
	sent    map[string]prometheus.Counter // by transport
	writes  map[string]prometheus.Counter // by transport
	drops   map[string]prometheus.Counter // by reason
}

func newMetrics(reg prometheus.Registerer) *metrics {
	clients := pmetrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "presenced_stream_clients",
		Help: "Open event streams.",
	}, []string{"transport"}))
	sent := pmetrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "presenced_stream_events_sent_total",
		Help: "Events written to stream clients.",
	}, []string{"transport"}))
	writes := pmetrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "presenced_stream_writes_total",
		Help: "Writes of events to stream connections; events_sent_total divided by this is the events per write.",
	}, []string{"transport"}))
	drops := pmetrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "presenced_stream_drops_total",
		Help: "Streams ended by presenced, by reason.",
	}, []string{"reason"}))

	m := &metrics{
		clients: map[string]prometheus.Gauge{},
		sent:    map[string]prometheus.Counter{},
		writes:  map[string]prometheus.Counter{},
		drops:   map[string]prometheus.Counter{},
	}
	for _, t := range []string{transportWebSocket, transportSSE} {
		m.clients[t] = clients.WithLabelValues(t)
		m.sent[t] = sent.WithLabelValues(t)
		m.writes[t] = writes.WithLabelValues(t)
	}
	for _, r := range []string{dropSlowConsumer, dropWriteTimeout, dropWriteError, dropPongTimeout} {
		m.drops[r] = drops.WithLabelValues(r)
	}
	return m
}
