package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Summary is the result of a run. Its JSON form (WriteJSON) is what
// --json writes; the field names are a contract for scripts.
type Summary struct {
	Scenario   Scenario  `json:"scenario"`
	Parameters Params    `json:"parameters"`
	StartedAt  time.Time `json:"started_at"`
	// DurationSeconds is the measured window.
	DurationSeconds float64 `json:"duration_seconds"`
	// Interrupted reports whether SIGINT or SIGTERM cut the run short.
	Interrupted bool `json:"interrupted"`
	// Error says why the run failed, when it did.
	Error string `json:"error,omitempty"`

	Operations          uint64            `json:"operations"`
	OperationsPerSecond float64           `json:"operations_per_second"`
	OperationsByKind    map[string]uint64 `json:"operations_by_kind"`

	// Pairs are the watcher–contact pairs subscribed (subscribe), made in
	// SubscribeSeconds.
	Pairs            uint64  `json:"pairs,omitempty"`
	PairsPerSecond   float64 `json:"pairs_per_second,omitempty"`
	SubscribeSeconds float64 `json:"subscribe_seconds,omitempty"`
	// Lookups are the contacts answered by queries (lookup).
	Lookups          uint64  `json:"lookups,omitempty"`
	LookupsPerSecond float64 `json:"lookups_per_second,omitempty"`

	// Deliveries are the stream events of measured publishes received by
	// the watchers (fanout); ExpectedDeliveries is publishes × watchers
	// of the published contact.
	Deliveries          uint64  `json:"deliveries"`
	DeliveriesPerSecond float64 `json:"deliveries_per_second"`
	ExpectedDeliveries  uint64  `json:"expected_deliveries"`
	LostDeliveries      uint64  `json:"lost_deliveries"`

	// RequestLatency is the latency of the measured client calls;
	// DeliveryLatency (fanout) from publish to receipt.
	RequestLatency  Latency  `json:"request_latency_ms"`
	DeliveryLatency *Latency `json:"delivery_latency_ms,omitempty"`

	Errors Errors `json:"errors"`
	// Server is read from the server's /metrics; nil when it could not be.
	Server *ServerStats `json:"server"`
	// Idle is the idle scenario's connections and server memory.
	Idle *IdleStats `json:"idle,omitempty"`
	// SIP is the notify scenario's dialogs and NOTIFYs.
	SIP *SIPStats `json:"sip,omitempty"`
	// XMPP is the xmpp scenario's component stream and presences.
	XMPP     *XMPPStats `json:"xmpp,omitempty"`
	Cleanup  *Cleanup   `json:"cleanup,omitempty"`
	Warnings []string   `json:"warnings"`
}

// Params are the parameters of a run; zero values do not apply to it.
type Params struct {
	Target      string  `json:"target"`
	Duration    string  `json:"duration"`
	Warmup      string  `json:"warmup,omitempty"`
	Watchers    int     `json:"watchers,omitempty"`
	Contacts    int     `json:"contacts,omitempty"`
	Distinct    int     `json:"distinct,omitempty"`
	Batch       int     `json:"batch,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	Transport   string  `json:"transport,omitempty"`
	Seed        int64   `json:"seed"`
	// Idle.
	Connections int      `json:"connections,omitempty"`
	Users       int      `json:"users,omitempty"`
	Sources     []string `json:"sources,omitempty"`
	Settle      string   `json:"settle,omitempty"`
	// Notify.
	Window    int    `json:"window,omitempty"`
	SIPListen string `json:"sip_listen,omitempty"`
	Streams   bool   `json:"streams,omitempty"`
	// XMPP (with Streams). The secret is never shown.
	XMPPListen   string `json:"xmpp_listen,omitempty"`
	Component    string `json:"component,omitempty"`
	XMPPDomain   string `json:"xmpp_domain,omitempty"`
	JIDDomain    string `json:"jid_domain,omitempty"`
	IngestMetric string `json:"ingest_metric,omitempty"`
}

// Latency summarises a histogram in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// Errors counts failures by problem code (answers) and by transport class
// (no answer, or a stream that ended).
type Errors struct {
	Total       uint64            `json:"total"`
	ByCode      map[string]uint64 `json:"by_code"`
	ByTransport map[string]uint64 `json:"by_transport"`
}

// ServerStats are read from the server's metrics at the end of the
// measured window (counters as deltas over it).
type ServerStats struct {
	RSSBytes        uint64 `json:"rss_bytes"`
	BackendWatches  int    `json:"backend_watches"`            // sum of presenced_endpoint_subscriptions
	BackendCapacity int    `json:"backend_capacity"`           // sum of presenced_endpoint_capacity
	ExpectedWatches int    `json:"expected_watches,omitempty"` // subscribe, fanout: min(distinct contacts subscribed, capacity)
	WatchedContacts int    `json:"watched_contacts"`
	// WaitingContacts are wanted contacts waiting for endpoint capacity
	// (admin stats; -1 when not read).
	WaitingContacts int `json:"waiting_contacts"`
	// CPUSeconds is the server's CPU time during the window.
	CPUSeconds             float64 `json:"cpu_seconds"`
	DeliveriesPerCPUSecond float64 `json:"deliveries_per_cpu_second,omitempty"`
	// NotifiesPerCPUSecond (notify) is the NOTIFYs answered 2xx per
	// second of the server's CPU time; SIPNotifies the NOTIFYs its SIP
	// backend counted (presenced_sip_notifies_total).
	NotifiesPerCPUSecond float64 `json:"notifies_per_cpu_second,omitempty"`
	SIPNotifies          uint64  `json:"sip_notifies,omitempty"`
	ContactChanges       uint64  `json:"contact_changes"`   // changes the hub delivered
	ServerDeliveries     uint64  `json:"server_deliveries"` // events queued to stream listeners
	ListenerDrops        uint64  `json:"listener_drops"`
	StreamDrops          uint64  `json:"stream_drops"`
	CoalescedUpdates     uint64  `json:"coalesced_updates"`
	// StreamWrites are the server's writes of events to stream
	// connections: ServerDeliveries / StreamWrites events per write.
	StreamWrites uint64 `json:"stream_writes"`
	// PresencesPerCPUSecond (xmpp) is the presence stanzas the server
	// ingested (its --ingest-metric; the ones sent when it has none) per
	// second of its CPU time.
	PresencesPerCPUSecond float64 `json:"presences_per_cpu_second,omitempty"`
}

// Cleanup is what happened to the run's subscriptions at the end.
type Cleanup struct {
	Kept    bool `json:"kept"`
	Deleted int  `json:"deleted"`
	Errors  int  `json:"errors"`
}

// perWrite shows the events per stream write, when there were writes.
func perWrite(st *ServerStats) string {
	if st.StreamWrites == 0 {
		return ""
	}
	return fmt.Sprintf(" (%.2f events per write)", float64(st.ServerDeliveries)/float64(st.StreamWrites))
}

// summary builds the run's Summary.
func (r *runner) summary(interrupted bool) Summary {
	rec := &r.rec
	s := Summary{
		Scenario: r.cfg.Scenario, Parameters: r.cfg.params(), StartedAt: r.started.UTC(),
		Interrupted: interrupted, OperationsByKind: map[string]uint64{},
		Cleanup: r.cleanup, Warnings: []string{},
	}
	if !r.measureStart.IsZero() && !r.measureEnd.IsZero() {
		s.DurationSeconds = r.measureEnd.Sub(r.measureStart).Seconds()
	}
	for k := range rec.ops {
		if n := rec.ops[k].Load(); n > 0 {
			s.OperationsByKind[opNames[k]] = n
			s.Operations += n
		}
	}
	s.OperationsPerSecond = perSecond(s.Operations, s.DurationSeconds)
	s.Pairs = rec.pairs.Load()
	if r.cfg.Scenario == Subscribe {
		s.SubscribeSeconds = r.subscribeTime.Seconds()
		s.PairsPerSecond = perSecond(s.Pairs, s.SubscribeSeconds)
	}
	s.Lookups = rec.lookups.Load()
	s.LookupsPerSecond = perSecond(s.Lookups, s.DurationSeconds)
	s.Deliveries, s.ExpectedDeliveries = rec.deliveries.Load(), rec.expected.Load()
	s.DeliveriesPerSecond = perSecond(s.Deliveries, s.DurationSeconds)
	if s.ExpectedDeliveries > s.Deliveries {
		s.LostDeliveries = s.ExpectedDeliveries - s.Deliveries
	}
	s.RequestLatency = latencyOf(&rec.reqLatency)
	if r.cfg.Scenario == Fanout || ((r.cfg.Scenario == Notify || r.cfg.Scenario == XMPP) && r.cfg.Streams) {
		l := latencyOf(&rec.deliveryLatency)
		s.DeliveryLatency = &l
	}
	if r.idle != nil {
		idle := *r.idle
		idle.HandshakeLatency = latencyOf(&r.handshakes)
		s.Idle = &idle
	}
	s.Errors.ByCode, s.Errors.ByTransport = rec.errorCounts()
	s.Errors.Total = rec.errTotal.Load()
	s.Server = r.serverStats(s.Deliveries)
	if srv := r.sip.Load(); srv != nil {
		s.SIP = r.sipSummary(srv, s.DurationSeconds)
		if st := s.Server; st != nil && st.CPUSeconds > 0 {
			st.NotifiesPerCPUSecond = float64(s.SIP.Answered2xx) / st.CPUSeconds
		}
	}
	if srv := r.xmpp.Load(); srv != nil {
		s.XMPP = r.xmppSummary(srv, s.DurationSeconds)
		if st := s.Server; st != nil {
			st.PresencesPerCPUSecond = s.XMPP.perCPUSecond(st.CPUSeconds)
		}
	}
	r.mu.Lock()
	s.Warnings = append(s.Warnings, r.warnings...)
	r.mu.Unlock()
	return s
}

// serverStats derives the server figures from the metric snapshots.
func (r *runner) serverStats(deliveries uint64) *ServerStats {
	a, b := r.before, r.after
	if b == nil {
		return nil
	}
	delta := func(name string) float64 {
		if a == nil {
			return 0
		}
		return max(b[name]-a[name], 0)
	}
	st := &ServerStats{
		RSSBytes:         uint64(b[metricRSS]),
		BackendWatches:   int(b[metricEndpointUsed]),
		BackendCapacity:  int(b[metricEndpointCap]),
		ExpectedWatches:  r.expectWatches,
		WatchedContacts:  int(b[metricWatchedContacts]),
		WaitingContacts:  r.waiting,
		CPUSeconds:       delta(metricCPU),
		ContactChanges:   uint64(delta(metricChanges)),
		ServerDeliveries: uint64(delta(metricDeliveries)),
		ListenerDrops:    uint64(delta(metricListenerDrops)),
		StreamDrops:      uint64(delta(metricStreamDrops)),
		CoalescedUpdates: uint64(delta(metricCoalesced)),
		StreamWrites:     uint64(delta(metricStreamWrites)),
		SIPNotifies:      uint64(delta(metricSIPNotifies)),
	}
	if st.CPUSeconds > 0 && deliveries > 0 {
		st.DeliveriesPerCPUSecond = float64(deliveries) / st.CPUSeconds
	}
	return st
}

func perSecond(n uint64, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}

func latencyOf(h *Histogram) Latency {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Latency{
		Count: h.Count(), P50: ms(h.Quantile(0.50)), P95: ms(h.Quantile(0.95)),
		P99: ms(h.Quantile(0.99)), Max: ms(h.Max()), Mean: ms(h.Mean()),
	}
}

// WriteJSON writes s as indented JSON.
func (s Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// WriteText writes s for people.
func (s Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	state := "complete"
	switch {
	case s.Error != "":
		state = "failed"
	case s.Interrupted:
		state = "interrupted"
	}
	fmt.Fprintf(&b, "presenced bench %s against %s: %.1fs measured (%s)\n", s.Scenario, s.Parameters.Target, s.DurationSeconds, state)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(&b, "  %-18s "+format+"\n", append([]any{name}, args...)...)
	}
	row("parameters", "%s", s.Parameters.text())
	if !noClientCalls(s.Scenario) {
		row("operations", "%s", strings.TrimSpace(fmt.Sprintf("%d (%.1f/s)  %s", s.Operations, s.OperationsPerSecond, counts(s.OperationsByKind))))
	}
	if s.Scenario == Subscribe {
		row("pairs", "%d subscribed in %.2fs (%.0f/s)", s.Pairs, s.SubscribeSeconds, s.PairsPerSecond)
	}
	if s.Scenario == Lookup {
		row("lookups", "%d contacts (%.0f/s)", s.Lookups, s.LookupsPerSecond)
	}
	if s.Idle != nil {
		s.Idle.text(row)
	}
	if s.SIP != nil {
		s.SIP.text(row)
	}
	if s.XMPP != nil {
		s.XMPP.text(row)
	}
	if s.Scenario == Fanout {
		row("deliveries", "%d (%.0f/s) of %d expected, %d lost", s.Deliveries, s.DeliveriesPerSecond, s.ExpectedDeliveries, s.LostDeliveries)
		row("delivery latency", "%s", s.DeliveryLatency.text())
	}
	if (s.Scenario == Notify || s.Scenario == XMPP) && s.DeliveryLatency != nil {
		row("deliveries", "%d (%.0f/s) to the watchers' streams", s.Deliveries, s.DeliveriesPerSecond)
		row("delivery latency", "%s", s.DeliveryLatency.text())
	}
	if !noClientCalls(s.Scenario) {
		row("request latency", "%s", s.RequestLatency.text())
	}
	if s.Errors.Total == 0 {
		row("errors", "none")
	} else {
		row("errors", "%d  %s", s.Errors.Total, strings.TrimSpace(counts(s.Errors.ByCode)+"  "+counts(s.Errors.ByTransport)))
	}
	if st := s.Server; st != nil {
		row("server rss", "%.1f MiB", float64(st.RSSBytes)/(1<<20))
		if s.Scenario != Idle { // it subscribes nothing
			expected := ""
			if st.ExpectedWatches > 0 {
				expected = fmt.Sprintf("expected %d, ", st.ExpectedWatches)
			}
			row("backend watches", "%d (%scapacity %d); watched contacts %d, waiting for capacity %d",
				st.BackendWatches, expected, st.BackendCapacity, st.WatchedContacts, st.WaitingContacts)
		}
		cpu := fmt.Sprintf("%.2fs", st.CPUSeconds)
		switch {
		case st.PresencesPerCPUSecond > 0 && s.XMPP != nil && s.XMPP.IngestMetricFound:
			cpu += fmt.Sprintf(" (%.0f presences ingested per CPU-second)", st.PresencesPerCPUSecond)
		case st.PresencesPerCPUSecond > 0:
			cpu += fmt.Sprintf(" (%.0f presences sent per CPU-second)", st.PresencesPerCPUSecond)
		case st.NotifiesPerCPUSecond > 0:
			cpu += fmt.Sprintf(" (%.0f NOTIFYs per CPU-second)", st.NotifiesPerCPUSecond)
		case st.DeliveriesPerCPUSecond > 0:
			cpu += fmt.Sprintf(" (%.0f deliveries per CPU-second)", st.DeliveriesPerCPUSecond)
		}
		row("server cpu", "%s", cpu)
		if s.Scenario == Notify {
			row("server counters", "sip notifies %d  contact changes %d  deliveries %d  coalesced %d  listener drops %d  stream drops %d",
				st.SIPNotifies, st.ContactChanges, st.ServerDeliveries, st.CoalescedUpdates, st.ListenerDrops, st.StreamDrops)
		}
		if s.Scenario == XMPP {
			row("server counters", "contact changes %d  deliveries %d  coalesced %d  listener drops %d  stream drops %d",
				st.ContactChanges, st.ServerDeliveries, st.CoalescedUpdates, st.ListenerDrops, st.StreamDrops)
		}
		if s.Scenario == Fanout {
			row("server counters", "contact changes %d  deliveries %d  listener drops %d  stream drops %d  coalesced %d  stream writes %d%s",
				st.ContactChanges, st.ServerDeliveries, st.ListenerDrops, st.StreamDrops, st.CoalescedUpdates, st.StreamWrites, perWrite(st))
		}
	} else {
		row("server", "metrics not read")
	}
	if c := s.Cleanup; c != nil {
		if c.Kept {
			row("cleanup", "subscriptions kept (--keep)")
		} else {
			row("cleanup", "%d subscriptions deleted, %d errors", c.Deleted, c.Errors)
		}
	}
	if s.Error != "" {
		row("error", "%s", s.Error)
	}
	for _, warning := range s.Warnings {
		row("warning", "%s", warning)
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

func (l *Latency) text() string {
	if l == nil || l.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %.2fms  p95 %.2fms  p99 %.2fms  max %.2fms  (n=%d)", l.P50, l.P95, l.P99, l.Max, l.Count)
}

func (p Params) text() string {
	var parts []string
	add := func(name string, v any, ok bool) {
		if ok {
			parts = append(parts, fmt.Sprintf("%s=%v", name, v))
		}
	}
	add("watchers", p.Watchers, p.Watchers > 0)
	add("contacts", p.Contacts, p.Contacts > 0)
	add("distinct", p.Distinct, p.Distinct > 0)
	add("batch", p.Batch, p.Batch > 0)
	add("concurrency", p.Concurrency, p.Concurrency > 0)
	add("rate", p.Rate, p.Rate > 0)
	add("transport", p.Transport, p.Transport != "")
	add("warmup", p.Warmup, p.Warmup != "")
	add("connections", p.Connections, p.Connections > 0)
	add("users", p.Users, p.Users > 0)
	add("sources", strings.Join(p.Sources, ","), len(p.Sources) > 0)
	add("settle", p.Settle, p.Settle != "")
	add("window", p.Window, p.Window > 0)
	add("sip-listen", p.SIPListen, p.SIPListen != "")
	add("xmpp-listen", p.XMPPListen, p.XMPPListen != "")
	add("component", p.Component, p.Component != "")
	add("xmpp-domain", p.XMPPDomain, p.XMPPDomain != "")
	add("jid-domain", p.JIDDomain, p.JIDDomain != "")
	add("ingest-metric", p.IngestMetric, p.IngestMetric != "")
	add("streams", p.Streams, p.SIPListen != "" || p.XMPPListen != "")
	add("seed", p.Seed, p.Connections == 0) // idle draws nothing
	return strings.Join(parts, " ")
}

// noClientCalls reports whether scenario s makes no measured client
// calls (its figures are streams, NOTIFYs or presence stanzas).
func noClientCalls(s Scenario) bool { return s == Idle || s == Notify || s == XMPP }

// counts formats a count map as "a=1 b=2", sorted by key.
func counts(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
