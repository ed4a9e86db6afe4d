package presence

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/clock/clocktest"
	"github.com/presenced/presenced/internal/presence/presencetest"
)

func TestRunPersistsExactSequencesOnShutdown(t *testing.T) {
	e := newEnv(t)
	v := e.subscribe("alice", "", "a@x.com")
	e.hub.Update("a@x.com", available)
	e.hub.Update("a@x.com", busy) // sequence 3, not yet persisted

	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() { done <- e.hub.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	rec, _ := e.store.Get(v.ID)
	if rec.Sequence != 3 {
		t.Errorf("stored sequence %d after shutdown, want 3", rec.Sequence)
	}
}

func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	clk := clocktest.New(t0)
	if _, err := New(testConfig(), clk, &presencetest.Watches{}, presencetest.NewStore(), nil, discard(), reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(testConfig(), clk, &presencetest.Watches{}, presencetest.NewStore(), nil, discard(), reg); err == nil {
		t.Errorf("second hub on one registry: no error")
	}

	e := newEnv(t)
	e.subscribe("alice", "", "a@x.com", "b@x.com")
	l := e.hub.Listen("alice", 4)
	defer l.Close()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if m := mf.GetMetric()[0]; m.GetGauge() != nil {
			got[mf.GetName()] = m.GetGauge().GetValue()
		}
	}
	diff(t, "gauges", map[string]float64{
		"presenced_client_subscriptions": 1,
		"presenced_watched_contacts":     2,
		"presenced_stream_listeners":     1,
	}, got)
}

func TestChangeIsSharedAcrossDeliveries(t *testing.T) {
	e := newEnv(t)
	l := e.hub.Listen("alice", 4)
	defer l.Close()
	e.subscribe("alice", "1", "a@x.com")
	e.subscribe("alice", "2", "a@x.com")
	e.hub.Update("a@x.com", available)
	evs := l.Drain(nil)
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
	first, second := evs[0], evs[1]
	if first.Change != second.Change {
		t.Fatalf("each subscription got its own Change; want one shared value")
	}
	calls := 0
	enc := func(c *Change) []byte { calls++; return []byte(c.Contact) }
	first.Change.Encoded(enc)
	if got := string(second.Change.Encoded(enc)); got != "a@x.com" || calls != 1 {
		t.Errorf("Encoded = %q after %d encoder calls, want a@x.com after 1", got, calls)
	}
}
