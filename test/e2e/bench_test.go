package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// benchSummary is the part of `presenced bench --json` the test reads.
type benchSummary struct {
	Scenario         string            `json:"scenario"`
	Interrupted      bool              `json:"interrupted"`
	Operations       uint64            `json:"operations"`
	OperationsByKind map[string]uint64 `json:"operations_by_kind"`
	Pairs            uint64            `json:"pairs"`
	Lookups          uint64            `json:"lookups"`
	Deliveries       uint64            `json:"deliveries"`
	Expected         uint64            `json:"expected_deliveries"`
	Lost             uint64            `json:"lost_deliveries"`
	DeliveryLatency  *struct {
		Count uint64  `json:"count"`
		P99   float64 `json:"p99"`
	} `json:"delivery_latency_ms"`
	Errors struct {
		Total uint64 `json:"total"`
	} `json:"errors"`
	Server *struct {
		BackendWatches  int    `json:"backend_watches"`
		ExpectedWatches int    `json:"expected_watches"`
		WatchedContacts int    `json:"watched_contacts"`
		RSSBytes        uint64 `json:"rss_bytes"`
		StreamDrops     uint64 `json:"stream_drops"`
		ListenerDrops   uint64 `json:"listener_drops"`
		Deliveries      uint64 `json:"server_deliveries"`
		StreamWrites    uint64 `json:"stream_writes"`
	} `json:"server"`
	Cleanup *struct {
		Deleted int `json:"deleted"`
		Errors  int `json:"errors"`
	} `json:"cleanup"`
	Idle *struct {
		Connections int `json:"connections"`
		Opened      int `json:"opened"`
		Failed      int `json:"failed"`
		Ended       int `json:"ended"`
		Handshake   struct {
			Count uint64 `json:"count"`
		} `json:"handshake_latency_ms"`
		ConnectsPerSecond float64       `json:"connects_per_second"`
		Before            *serverMemory `json:"before"`
		AfterSettle       *idleReading  `json:"after_settle"`
		AtEnd             *idleReading  `json:"at_end"`
	} `json:"idle"`
	Warnings []string `json:"warnings"`
}

// serverMemory is a memory reading of the idle scenario.
type serverMemory struct {
	RSSBytes        uint64 `json:"rss_bytes"`
	HeapInuseBytes  uint64 `json:"heap_inuse_bytes"`
	StackInuseBytes uint64 `json:"stack_inuse_bytes"`
	Goroutines      int    `json:"goroutines"`
	StreamClients   int    `json:"stream_clients"`
}

// idleReading is a reading of the idle scenario while the streams are held.
type idleReading struct {
	Open          int          `json:"open"`
	Server        serverMemory `json:"server"`
	PerConnection *struct {
		RSSBytes        float64 `json:"rss_bytes"`
		HeapInuseBytes  float64 `json:"heap_inuse_bytes"`
		StackInuseBytes float64 `json:"stack_inuse_bytes"`
		Goroutines      float64 `json:"goroutines"`
	} `json:"per_connection"`
}

// benchConfig is a server set up for the load tool: every change
// delivered, no rate limit.
const benchConfig = "presence:\n  coalesce_interval: 0s\nauth:\n  rate_limit:\n    requests_per_second: 0\n"

// runBench runs `presenced bench SCENARIO` against in and returns its
// JSON summary, failing the test unless the run completed without errors
// or warnings.
func runBench(t *testing.T, in *instance, admin, scenario string, args ...string) benchSummary {
	t.Helper()
	all := append([]string{"bench", scenario, "--target", in.client, "--admin", in.admin, "--admin-token", admin, "--json", "-", "--progress", "0"}, args...)
	stdout, stderr, code := run(t, nil, all...)
	if code != 0 {
		t.Fatalf("bench %s: exit %d\n%s", scenario, code, stderr)
	}
	var s benchSummary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("bench %s: summary %q: %v", scenario, stdout, err)
	}
	// A loaded machine may keep the tool below its rate (a warning);
	// any other warning is a finding.
	var warnings []string
	for _, w := range s.Warnings {
		if !strings.Contains(w, " reached ") {
			warnings = append(warnings, w)
		}
	}
	if s.Scenario != scenario || s.Interrupted || s.Errors.Total != 0 || s.Server == nil || len(warnings) > 0 {
		t.Fatalf("bench %s: summary %+v\n%s", scenario, s, stderr)
	}
	if !strings.Contains(stderr, "presenced bench "+scenario+" against "+in.client) {
		t.Errorf("bench %s: no text summary on stderr:\n%s", scenario, stderr)
	}
	return s
}

// TestBench runs every load-tool scenario briefly against a real instance
// and checks its summary against what the parameters imply.
func TestBench(t *testing.T) {
	in := newInstance(t, benchConfig)
	admin := in.adminToken()
	in.start()
	bench := func(t *testing.T, scenario string, args ...string) benchSummary {
		t.Helper()
		return runBench(t, in, admin, scenario, args...)
	}

	t.Run("subscribe", func(t *testing.T) {
		// 5 watchers × 4 contacts over 10 distinct: 20 pairs, 10 watches;
		// batches of 3 make one create and one PATCH per watcher.
		s := bench(t, "subscribe", "--watchers", "5", "--contacts", "4", "--distinct", "10", "--batch", "3", "--duration", "1s")
		type result struct {
			Pairs                    uint64
			Ops                      map[string]uint64
			Watches, Expected, Wcont int
			Deleted                  int
		}
		got := result{s.Pairs, s.OperationsByKind, s.Server.BackendWatches, s.Server.ExpectedWatches, s.Server.WatchedContacts, s.Cleanup.Deleted}
		want := result{20, map[string]uint64{"create": 5, "patch": 5}, 10, 10, 10, 5}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("subscribe summary (-want +got):\n%s", diff)
		}
		if s.Server.RSSBytes == 0 {
			t.Error("server RSS not read")
		}
	})

	for _, transport := range []string{"websocket", "sse"} {
		t.Run("fanout "+transport, func(t *testing.T) {
			s := bench(t, "fanout", "--watchers", "4", "--contacts", "5", "--distinct", "10", "--rate", "50",
				"--duration", "2s", "--warmup", "500ms", "--transport", transport)
			if s.Deliveries == 0 || s.Lost != 0 || s.Deliveries != s.Expected || s.DeliveryLatency == nil || s.DeliveryLatency.Count != s.Deliveries {
				t.Errorf("fanout: %d deliveries of %d expected, %d lost, latency %+v", s.Deliveries, s.Expected, s.Lost, s.DeliveryLatency)
			}
			// Every contact has two watchers: each publish is two events.
			if publishes := s.OperationsByKind["publish"]; s.Expected != 2*publishes {
				t.Errorf("fanout: %d expected deliveries for %d publishes, want twice as many", s.Expected, publishes)
			}
			if s.Server.BackendWatches != 10 || s.Server.StreamDrops != 0 || s.Server.ListenerDrops != 0 {
				t.Errorf("fanout: server %+v", *s.Server)
			}
		})
	}

	t.Run("lookup", func(t *testing.T) {
		s := bench(t, "lookup", "--batch", "10", "--distinct", "10", "--concurrency", "2", "--duration", "1s")
		if s.Operations == 0 || s.Lookups != 10*s.Operations {
			t.Errorf("lookup: %d queries answered %d contacts, want 10 each", s.Operations, s.Lookups)
		}
	})

	t.Run("churn", func(t *testing.T) {
		s := bench(t, "churn", "--watchers", "5", "--contacts", "3", "--distinct", "10", "--rate", "40", "--duration", "1s")
		if s.Operations == 0 || s.OperationsByKind["create"] == 0 {
			t.Errorf("churn: operations %v", s.OperationsByKind)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		_, stderr, code := run(t, nil, "bench", "fanout", "--target", in.client, "--admin", in.admin, "--admin-token", admin, "--duration", "2h", "--transport", "tcp")
		want := "presenced bench: --duration: must be more than 0 and at most 1h0m0s, got 2h0m0s\npresenced bench: --transport: must be websocket or sse, got \"tcp\"\n"
		if code != 2 || stderr != want {
			t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and:\n%s", code, stderr, want)
		}
	})
}

// TestBenchWriteDelay runs the fan-out against a server configured with
// stream.write_delay: every event still arrives, and the server counts
// the writes that carried them (at most one per event).
func TestBenchWriteDelay(t *testing.T) {
	in := newInstance(t, benchConfig+"stream:\n  write_delay: 50ms\n")
	admin := in.adminToken()
	in.start()
	s := runBench(t, in, admin, "fanout", "--watchers", "4", "--contacts", "5", "--distinct", "10", "--rate", "50",
		"--duration", "2s", "--warmup", "500ms")
	if s.Deliveries == 0 || s.Lost != 0 || s.Deliveries != s.Expected {
		t.Errorf("fanout: %d deliveries of %d expected, %d lost", s.Deliveries, s.Expected, s.Lost)
	}
	if st := s.Server; st.StreamWrites == 0 || st.StreamWrites > st.Deliveries || st.StreamDrops != 0 {
		t.Errorf("fanout: %d stream writes for %d deliveries, %d stream drops", st.StreamWrites, st.Deliveries, st.StreamDrops)
	}
}

// TestBenchIdle holds 300 idle WebSocket streams from two loopback source
// addresses against a fresh instance (so that no other stream is counted)
// and checks that the server counts exactly those, and that the memory
// per connection is reported.
func TestBenchIdle(t *testing.T) {
	in := newInstance(t, benchConfig)
	admin := in.adminToken()
	in.start()
	const n = 300
	s := runBench(t, in, admin, "idle", "--connections", "300", "--sources", "127.0.0.1,127.0.0.2",
		"--settle", "1s", "--duration", "2s")
	st := s.Idle
	if st == nil || st.Before == nil || st.AfterSettle == nil || st.AtEnd == nil {
		t.Fatalf("idle section incomplete: %+v", st)
	}
	type counts struct{ Connections, Opened, Failed, Ended, Handshakes, BeforeStreams, SettleOpen, SettleStreams, EndOpen, EndStreams int }
	got := counts{st.Connections, st.Opened, st.Failed, st.Ended, int(st.Handshake.Count), st.Before.StreamClients,
		st.AfterSettle.Open, st.AfterSettle.Server.StreamClients, st.AtEnd.Open, st.AtEnd.Server.StreamClients}
	want := counts{n, n, 0, 0, n, 0, n, n, n, n}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("idle streams (-want +got):\n%s", diff)
	}
	if st.ConnectsPerSecond <= 0 {
		t.Errorf("connect rate %v", st.ConnectsPerSecond)
	}
	for name, rd := range map[string]*idleReading{"after settle": st.AfterSettle, "at end": st.AtEnd} {
		p := rd.PerConnection
		if p == nil {
			t.Errorf("%s: no per-connection figures", name)
			continue
		}
		// Every stream holds at least a goroutine with its stack and a
		// connection on the server's heap.
		if p.RSSBytes <= 0 || p.HeapInuseBytes <= 0 || p.StackInuseBytes <= 0 || p.Goroutines <= 0 {
			t.Errorf("%s: per connection %+v, want every figure positive", name, *p)
		}
	}
}
