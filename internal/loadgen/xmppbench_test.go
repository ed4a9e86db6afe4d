package loadgen

import (
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestXMPPSummary builds the summary of an xmpp run from fixed counts and
// metric snapshots, with and without the server's ingest counter.
func TestXMPPSummary(t *testing.T) {
	tests := []struct {
		name         string
		before       Metrics // nil: {cpu 1, ingest counter 1000, changes 100}
		after        Metrics
		want         func(listen string) *XMPPStats
		wantPerCPU   float64
		wantWarnings []string
		wantLines    []string
	}{
		{
			name:  "ingest counter found",
			after: Metrics{metricCPU: 3, metricXMPPPresences: 17_000, metricChanges: 900},
			want: func(listen string) *XMPPStats {
				return &XMPPStats{
					Listen: listen, Component: "presence.example.com", Connections: 2, Authenticated: 1, Refused: 1, BadHandshake: 1,
					Received: map[string]uint64{"ping": 3, "iq_result": 0, "iq_refused": 0, "presence": 0, "message": 0, "other": 0},
					Sent:     20_000, SentPerSecond: 2000, IngestMetric: metricXMPPPresences, IngestMetricFound: true,
					Ingested: 16_000, IngestedPerSecond: 1600,
				}
			},
			wantPerCPU: 8000,
			wantWarnings: []string{
				"presences reached 2000/s of --rate 2500: the server does not read them as fast",
				"the server ingested 1600/s of the 2000/s sent: the rest waited in socket buffers",
			},
			wantLines: []string{
				"  presences          20000 sent (2000/s)",
				"  ingested           16000 (1600/s) by presenced_xmpp_presences_total",
				"  server cpu         2.00s (8000 presences ingested per CPU-second)",
				"  server counters    contact changes 800  deliveries 0  coalesced 0  listener drops 0  stream drops 0",
			},
		},
		{
			name:   "ingest counter first seen in the window",
			before: Metrics{metricCPU: 1},
			after:  Metrics{metricCPU: 3, metricXMPPPresences: 20_000},
			want: func(listen string) *XMPPStats {
				return &XMPPStats{
					Listen: listen, Component: "presence.example.com", Connections: 2, Authenticated: 1, Refused: 1, BadHandshake: 1,
					Received: map[string]uint64{"ping": 3, "iq_result": 0, "iq_refused": 0, "presence": 0, "message": 0, "other": 0},
					Sent:     20_000, SentPerSecond: 2000, IngestMetric: metricXMPPPresences, IngestMetricFound: true,
					Ingested: 20_000, IngestedPerSecond: 2000,
				}
			},
			wantPerCPU:   10_000,
			wantWarnings: []string{"presences reached 2000/s of --rate 2500: the server does not read them as fast"},
			wantLines:    []string{"  ingested           20000 (2000/s) by presenced_xmpp_presences_total"},
		},
		{
			name:  "ingest counter missing",
			after: Metrics{metricCPU: 3},
			want: func(listen string) *XMPPStats {
				return &XMPPStats{
					Listen: listen, Component: "presence.example.com", Connections: 2, Authenticated: 1, Refused: 1, BadHandshake: 1,
					Received: map[string]uint64{"ping": 3, "iq_result": 0, "iq_refused": 0, "presence": 0, "message": 0, "other": 0},
					Sent:     20_000, SentPerSecond: 2000, IngestMetric: metricXMPPPresences,
				}
			},
			wantPerCPU: 10_000,
			wantWarnings: []string{
				"presences reached 2000/s of --rate 2500: the server does not read them as fast",
				"the server's /metrics has no presenced_xmpp_presences_total: the ingest rate is unknown (see --ingest-metric)",
			},
			wantLines: []string{
				"  ingested           unknown: no presenced_xmpp_presences_total",
				"  server cpu         2.00s (10000 presences sent per CPU-second)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var warned warnings
			srv := startXMPP(t, &warned)
			c := &srv.counts
			c.connections.Store(2)
			c.authenticated.Store(1)
			c.refused.Store(1)
			c.badHandshake.Store(1)
			c.pings.Store(3)
			c.sent.Store(20_000)
			c.sentTotal.Store(24_000)

			r := &runner{cfg: defaults(XMPP), out: io.Discard, started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			r.cfg.Target = &url.URL{Scheme: "http", Host: "127.0.0.1:8080"}
			r.cfg.Rate, r.cfg.JIDDomain = 2500, "example.com"
			r.measureStart, r.measureEnd = r.started, r.started.Add(10*time.Second)
			r.before = tt.before
			if r.before == nil {
				r.before = Metrics{metricCPU: 1, metricXMPPPresences: 1000, metricChanges: 100}
			}
			r.after = tt.after
			r.xmpp.Store(srv)
			r.checkXMPP(srv)

			s := r.summary(false)
			if diff := cmp.Diff(tt.want(srv.addr()), s.XMPP); diff != "" {
				t.Errorf("XMPP stats (-want +got):\n%s", diff)
			}
			if s.Server == nil || s.Server.PresencesPerCPUSecond != tt.wantPerCPU {
				t.Errorf("server = %+v, want presences per CPU-second %v", s.Server, tt.wantPerCPU)
			}
			if diff := cmp.Diff(tt.wantWarnings, s.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			var text strings.Builder
			if err := s.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			lines := append([]string{
				"  parameters         distinct=1000 batch=100 concurrency=16 rate=2500 warmup=2s xmpp-listen=127.0.0.1:5347 component=presence.example.com xmpp-domain=example.com jid-domain=example.com ingest-metric=presenced_xmpp_presences_total streams=true seed=1",
				"  xmpp               component port " + srv.addr() + " as presence.example.com; 2 connection(s), 1 authenticated, 1 refused, 0 lost; received ping=3",
			}, tt.wantLines...)
			for _, line := range lines {
				if !strings.Contains(text.String(), line+"\n") {
					t.Errorf("text summary lacks %q:\n%s", line, text.String())
				}
			}
			if strings.Contains(text.String(), "request latency") || strings.Contains(text.String(), "operations") {
				t.Errorf("text summary shows client calls the scenario does not make:\n%s", text.String())
			}
		})
	}
}
