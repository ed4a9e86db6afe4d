package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/metrics"
)

func TestRegisterReusesAnEqualCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "x_total", Help: "x"}
	a := metrics.Register(reg, prometheus.NewCounter(opts))
	b := metrics.Register(reg, prometheus.NewCounter(opts))
	if a != b {
		t.Error("a second Register of an equal counter did not return the first")
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a different collector under the same name did not panic")
		}
	}()
	metrics.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_total", Help: "other"}))
}
