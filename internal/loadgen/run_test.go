package loadgen

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeServer is a minimal presenced on loopback: both listeners on one
// address. Its hooks let a test stop the run at an exact point instead of
// after some time.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	subs    map[string]int // subscription id -> contacts; guarded by mu
	pairs   int            // guarded by mu
	queries int            // guarded by mu
	nextID  int            // guarded by mu
	deleted int            // guarded by mu
	ttl     int            // of new subscriptions, seconds

	onRefresh func(w http.ResponseWriter, r *http.Request) bool        // true: answered
	onQuery   func(n int, w http.ResponseWriter, r *http.Request) bool // true: answered
	onMetrics func(n int)                                              // called with the scrape count
	// refuseStream gives the problem status and code that refuses the
	// stream of a token, or 0.
	refuseStream func(token string) (int, string)

	streams     int            // open WebSocket streams; guarded by mu
	rssExtra    int            // added to the RSS; guarded by mu
	scrapes     int            // guarded by mu
	bySource    map[string]int // streams by remote IP; guarded by mu
	byToken     map[string]int // streams by bearer token; guarded by mu
	closeCodes  map[int]int    // close frames received, by code; guarded by mu
	streamsDone sync.WaitGroup // stream handlers
}

func newFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{t: t, subs: map[string]int{}, ttl: 180, bySource: map[string]int{}, byToken: map[string]int{}, closeCodes: map[int]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/admin/tokens", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ User string }
		if r.Header.Get("Authorization") != "Bearer admin" || json.NewDecoder(r.Body).Decode(&req) != nil {
			problem(w, 401, "unauthorized")
			return
		}
		writeJSON(w, 201, map[string]string{"user": req.User, "token": "tok-" + req.User})
	})
	mux.HandleFunc("POST /v1/subscriptions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Users []string `json:"users"`
			Key   string   `json:"key"`
		}
		if json.NewDecoder(r.Body).Decode(&req) != nil || req.Key != subscriptionKey {
			problem(w, 400, "invalid_request")
			return
		}
		f.mu.Lock()
		f.nextID++
		id := fmt.Sprintf("%024x", f.nextID)
		f.subs[id] = len(req.Users)
		f.pairs += len(req.Users)
		f.mu.Unlock()
		writeJSON(w, 201, map[string]any{"id": id, "ttl": f.ttl})
	})
	mux.HandleFunc("PATCH /v1/subscriptions/{id}", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Add []string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		_, ok := f.subs[r.PathValue("id")]
		f.subs[r.PathValue("id")] += len(req.Add)
		f.pairs += len(req.Add)
		f.mu.Unlock()
		if !ok {
			problem(w, 404, "not_found")
			return
		}
		writeJSON(w, 200, map[string]any{"id": r.PathValue("id")})
	})
	mux.HandleFunc("POST /v1/subscriptions/{id}/refresh", func(w http.ResponseWriter, r *http.Request) {
		if f.onRefresh != nil && f.onRefresh(w, r) {
			return
		}
		writeJSON(w, 200, map[string]any{"expires_at": time.Now().Add(time.Duration(f.ttl) * time.Second)})
	})
	mux.HandleFunc("DELETE /v1/subscriptions/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, r.PathValue("id"))
		f.deleted++
		w.WriteHeader(204)
	})
	mux.HandleFunc("POST /v1/presence/query", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Users []string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.queries++
		n := f.queries
		f.mu.Unlock()
		if f.onQuery != nil && f.onQuery(n, w, r) {
			return
		}
		ps := make([]map[string]any, len(req.Users))
		for i, u := range req.Users {
			ps[i] = map[string]any{"user": u, "availability": "Offline", "code": 18000}
		}
		writeJSON(w, 200, map[string]any{"presence": ps})
	})
	mux.HandleFunc("GET /v1/admin/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]int{"client_subscriptions": 0, "waiting_contacts": 2})
	})
	mux.HandleFunc("GET /v1/stream", f.stream)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.scrapes++
		n := f.scrapes
		f.mu.Unlock()
		if f.onMetrics != nil {
			f.onMetrics(n)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		// Every stream costs the fake 10 KiB of RSS, 4 KiB of heap,
		// 8 KiB of stack and two goroutines.
		fmt.Fprintf(w, "# TYPE x gauge\nprocess_resident_memory_bytes %d\nprocess_cpu_seconds_total %d\n", 1<<20+10240*f.streams+f.rssExtra, 1+f.pairs/100)
		fmt.Fprintf(w, "go_memstats_heap_inuse_bytes %d\ngo_memstats_stack_inuse_bytes %d\ngo_goroutines %d\n", 1<<19+4096*f.streams, 1<<16+8192*f.streams, 10+2*f.streams)
		fmt.Fprintf(w, "presenced_stream_clients{transport=\"websocket\"} %d\npresenced_stream_clients{transport=\"sse\"} 3\n", f.streams)
		fmt.Fprintf(w, "presenced_endpoint_subscriptions{endpoint=\"default\"} %d\npresenced_endpoint_capacity{endpoint=\"default\"} 1000\n", min(f.pairs, 10))
		fmt.Fprintf(w, "presenced_watched_contacts %d\n", min(f.pairs, 10))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.t.Errorf("unexpected call %s %s", r.Method, r.URL)
		problem(w, 404, "not_found")
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// stream serves GET /v1/stream as a WebSocket that sends nothing and
// records who connected and how the stream ended. The stream counts as
// open before the upgrade answer is written, so a client that holds the
// answer finds itself counted.
func (f *fakeServer) stream(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if f.refuseStream != nil {
		if status, code := f.refuseStream(token); status != 0 {
			problem(w, status, code)
			return
		}
	}
	f.streamsDone.Add(1)
	defer f.streamsDone.Done()
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	f.mu.Lock()
	f.streams++
	f.bySource[host]++
	f.byToken[token]++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.streams--
		f.mu.Unlock()
	}()
	conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	for {
		if _, _, err := conn.NextReader(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				f.mu.Lock()
				f.closeCodes[ce.Code]++
				f.mu.Unlock()
			}
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"urn:presenced:problem:%s","status":%d,"code":%q,"detail":"fake"}`, code, status, code)
}

// config returns a valid Config of scenario s against f.
func (f *fakeServer) config(t *testing.T, s Scenario) Config {
	t.Helper()
	c := defaults(s)
	u, err := url.Parse(f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.Target, c.Admin, c.AdminToken = u, u, "admin"
	c.Duration, c.Progress = MaxDuration, 0
	if ps := c.validate(); len(ps) > 0 {
		t.Fatal(ps)
	}
	return c
}

// TestRunSubscribeInterrupted runs subscribe until every pair is held and
// the first refresh comes (the fake's TTL is 2 s), then interrupts it: the
// summary still shows the whole run, and the subscriptions are deleted.
func TestRunSubscribeInterrupted(t *testing.T) {
	f := newFakeServer(t)
	f.ttl = 2
	cfg := f.config(t, Subscribe)
	cfg.Watchers, cfg.Contacts, cfg.Distinct, cfg.Batch, cfg.Concurrency = 6, 5, 10, 2, 3
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.onRefresh = func(w http.ResponseWriter, r *http.Request) bool {
		cancel()             // interrupted while refreshing:
		<-r.Context().Done() // the refreshes are cut short, not counted
		return true
	}
	var progress strings.Builder
	sum, err := Run(ctx, cfg, &progress)
	if err != nil {
		t.Fatal(err)
	}
	got := struct {
		Interrupted bool
		Pairs       uint64
		Ops         map[string]uint64
		Errors      uint64
		Server      *ServerStats
		Cleanup     *Cleanup
		Warnings    []string
	}{sum.Interrupted, sum.Pairs, sum.OperationsByKind, sum.Errors.Total, sum.Server, sum.Cleanup, sum.Warnings}
	want := got
	want.Interrupted, want.Pairs, want.Errors, want.Warnings = true, 30, 0, []string{}
	want.Ops = map[string]uint64{"create": 6, "patch": 12} // batches of 2, 2, 1
	want.Server = &ServerStats{RSSBytes: 1 << 20, BackendWatches: 10, BackendCapacity: 1000, ExpectedWatches: 10, WatchedContacts: 10, WaitingContacts: 2}
	want.Cleanup = &Cleanup{Deleted: 6}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s\nprogress:\n%s", diff, progress.String())
	}
	if sum.Server != nil && sum.Server.CPUSeconds != 0 {
		// The fake's CPU counter moves with the pairs: 1 before, 1 after (30/100).
		t.Errorf("cpu seconds = %v, want 0", sum.Server.CPUSeconds)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.subs) != 0 || f.deleted != 6 {
		t.Errorf("server holds %d subscriptions after the run, %d deleted", len(f.subs), f.deleted)
	}
}

// TestRunLookupErrors checks error accounting: a short answer, a rate
// limit and a call cut off by the end of the run.
func TestRunLookupErrors(t *testing.T) {
	f := newFakeServer(t)
	cfg := f.config(t, Lookup)
	cfg.Concurrency, cfg.Batch, cfg.Distinct = 1, 4, 20
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.onQuery = func(n int, w http.ResponseWriter, r *http.Request) bool {
		switch n {
		case 2:
			writeJSON(w, 200, map[string]any{"presence": []any{}})
		case 3:
			w.Header().Set("Retry-After", "0")
			problem(w, 429, "rate_limited")
		case 4:
			cancel()             // the run ends while this call is in flight:
			<-r.Context().Done() // it is not counted
		default:
			return false
		}
		return true
	}
	var progress strings.Builder
	sum, err := Run(ctx, cfg, &progress)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		Ops, Lookups uint64
		Errors       Errors
		Warnings     []string
		Interrupted  bool
	}
	got := result{sum.Operations, sum.Lookups, sum.Errors, sum.Warnings, sum.Interrupted}
	want := result{
		Ops: 3, Lookups: 4, Interrupted: true,
		Errors:   Errors{Total: 2, ByCode: map[string]uint64{"bad_answer": 1, "rate_limited": 1}, ByTransport: map[string]uint64{}},
		Warnings: []string{"the server rate limits the bench tokens (429 rate_limited): run it with auth.rate_limit.requests_per_second: 0"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if !strings.Contains(progress.String(), "warning: the server rate limits") {
		t.Errorf("warning not printed:\n%s", progress.String())
	}
}

// TestRunSetupFailure checks that a refused admin token stops the run with
// an error naming the call, and still gives a summary.
func TestRunSetupFailure(t *testing.T) {
	f := newFakeServer(t)
	cfg := f.config(t, Churn)
	cfg.AdminToken = "wrong"
	sum, err := Run(context.Background(), cfg, io.Discard)
	want := "minting watcher-N@bench.test tokens: mint token for watcher-"
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), ": 401 unauthorized: fake") {
		t.Fatalf("err = %v, want %q...401 unauthorized", err, want)
	}
	if sum.Scenario != Churn || sum.Error != err.Error() || sum.Operations != 0 {
		t.Errorf("summary = %+v", sum)
	}
}

func TestClientRefusesOtherAddresses(t *testing.T) {
	var otherHits sync.Mutex
	hit := false
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Lock()
		hit = true
		otherHits.Unlock()
	}))
	defer other.Close()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/v1/presence/query", http.StatusTemporaryRedirect)
	}))
	defer target.Close()
	u, _ := url.Parse(target.URL)
	cfg := defaults(Lookup)
	cfg.Target, cfg.Admin, cfg.AdminToken = u, u, "t"
	c := newClient(cfg)
	defer c.close()

	tests := []struct {
		name, url, class string
	}{
		{"redirect", target.URL + "/v1/presence/query", "redirect_refused"},
		{"other address", other.URL + "/v1/presence/query", "address_refused"},
	}
	for _, tt := range tests {
		err := c.call(context.Background(), c.http, http.MethodPost, tt.url, "tok", []byte(`{}`), nil)
		if code, class := errorKeys(err); code != "" || class != tt.class {
			t.Errorf("%s: error %v has keys %q, %q; want class %q", tt.name, err, code, class, tt.class)
		}
	}
	_, _, err := c.ws.DialContext(context.Background(), "ws"+strings.TrimPrefix(other.URL, "http")+"/v1/stream", nil)
	if err == nil || !strings.Contains(err.Error(), "only --target and --admin may be reached") {
		t.Errorf("websocket dial to another address: %v", err)
	}
	otherHits.Lock()
	defer otherHits.Unlock()
	if hit {
		t.Error("the other server was reached")
	}
}

func TestSummaryJSON(t *testing.T) {
	r := &runner{cfg: defaults(Fanout), out: io.Discard, started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r.cfg.Target = &url.URL{Scheme: "http", Host: "127.0.0.1:8080"}
	r.measureStart = r.started
	r.measureEnd = r.started.Add(2 * time.Second)
	r.rec.measuring.Store(true)
	for range 10 {
		r.rec.done(opPublish, 2*time.Millisecond, nil)
	}
	r.rec.done(opPublish, 4*time.Millisecond, &callError{Status: 429, Code: "rate_limited"})
	r.rec.failClass("ws_close_1008")
	r.rec.deliveries.Store(95)
	r.rec.expected.Store(100)
	for range 95 {
		r.rec.deliveryLatency.Record(3 * time.Millisecond)
	}
	r.before = Metrics{metricCPU: 1, metricDeliveries: 10, metricStreamDrops: 1, metricStreamWrites: 5}
	r.after = Metrics{metricCPU: 1.5, metricDeliveries: 110, metricStreamDrops: 2, metricStreamWrites: 45, metricRSS: 2e6, metricEndpointUsed: 100, metricEndpointCap: 1000, metricWatchedContacts: 100}
	r.expectWatches, r.waiting = 100, 3
	r.cleanup = &Cleanup{Deleted: 100}
	r.warn("a %s", "warning")

	var b strings.Builder
	if err := r.summary(false).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(b.String()), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"scenario": "fanout",
		"parameters": map[string]any{
			"target": "http://127.0.0.1:8080", "duration": "30s", "warmup": "5s", "watchers": 100.0, "contacts": 10.0,
			"distinct": 100.0, "batch": 100.0, "concurrency": 16.0, "rate": 100.0, "transport": "websocket", "seed": 1.0,
		},
		"started_at": "2026-01-02T03:04:05Z", "duration_seconds": 2.0, "interrupted": false,
		"operations": 11.0, "operations_per_second": 5.5, "operations_by_kind": map[string]any{"publish": 11.0},
		"deliveries": 95.0, "deliveries_per_second": 47.5, "expected_deliveries": 100.0, "lost_deliveries": 5.0,
		"request_latency_ms":  map[string]any{"count": 11.0, "p50": 2.015, "p95": 4.0, "p99": 4.0, "max": 4.0, "mean": 2.181},
		"delivery_latency_ms": map[string]any{"count": 95.0, "p50": 3.0, "p95": 3.0, "p99": 3.0, "max": 3.0, "mean": 3.0},
		"errors":              map[string]any{"total": 2.0, "by_code": map[string]any{"rate_limited": 1.0}, "by_transport": map[string]any{"ws_close_1008": 1.0}},
		"server": map[string]any{
			"rss_bytes": 2e6, "backend_watches": 100.0, "backend_capacity": 1000.0, "expected_watches": 100.0, "watched_contacts": 100.0,
			"cpu_seconds": 0.5, "deliveries_per_cpu_second": 190.0, "contact_changes": 0.0, "server_deliveries": 100.0,
			"listener_drops": 0.0, "stream_drops": 1.0, "coalesced_updates": 0.0, "stream_writes": 40.0, "waiting_contacts": 3.0,
		},
		"cleanup":  map[string]any{"kept": false, "deleted": 100.0, "errors": 0.0},
		"warnings": []any{"a warning"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary JSON (-want +got):\n%s", diff)
	}

	var text strings.Builder
	if err := r.summary(true).WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"presenced bench fanout against http://127.0.0.1:8080: 2.0s measured (interrupted)",
		"  deliveries         95 (48/s) of 100 expected, 5 lost",
		"  errors             2  rate_limited=1  ws_close_1008=1",
		"  server cpu         0.50s (190 deliveries per CPU-second)",
		"  server counters    contact changes 0  deliveries 100  listener drops 0  stream drops 1  coalesced 0  stream writes 40 (2.50 events per write)",
		"  warning            a warning",
	} {
		if !strings.Contains(text.String(), line+"\n") {
			t.Errorf("text summary lacks %q:\n%s", line, text.String())
		}
	}
}

func TestClientTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "process_resident_memory_bytes 42")
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		flags []string
		class string // "" = the scrape works
	}{
		{"trusted by --ca-file", []string{"--ca-file", caFile}, ""},
		{"--insecure-tls", []string{"--insecure-tls"}, ""},
		{"untrusted", nil, "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseArgs(append([]string{"lookup", "--target", srv.URL, "--admin", srv.URL, "--admin-token", "t"}, tt.flags...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			c := newClient(cfg)
			defer c.close()
			m, err := c.scrape(context.Background())
			switch {
			case tt.class == "" && (err != nil || m[metricRSS] != 42):
				t.Errorf("scrape = %v, %v", m, err)
			case tt.class != "" && (err == nil || transportClass(err) != tt.class):
				t.Errorf("scrape error %v, want class %q", err, tt.class)
			}
		})
	}
}
