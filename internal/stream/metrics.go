package stream

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
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
	clients := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "presenced_stream_clients",
		Help: "Open event streams.",
	}, []string{"transport"}))
	sent := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "presenced_stream_events_sent_total",
		Help: "Events written to stream clients.",
	}, []string{"transport"}))
	writes := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "presenced_stream_writes_total",
		Help: "Writes of events to stream connections; events_sent_total divided by this is the events per write.",
	}, []string{"transport"}))
	drops := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
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

// register registers c with reg, or returns the equal collector already
// registered there (several Servers may share one registry). Any other
// failure is a programming error, as with promauto.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("stream: register metrics: %v", err))
}
