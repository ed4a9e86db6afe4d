package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gorilla/websocket"
)

// roomy are host limits that hold any run of the tests.
var roomy = func() hostLimits { return hostLimits{NoFile: 1 << 20, NoFileMax: 1 << 20, Ports: 28232} }

func addrs(ss ...string) []netip.Addr {
	var as []netip.Addr
	for _, s := range ss {
		as = append(as, netip.MustParseAddr(s))
	}
	return as
}

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestParseArgsIdle(t *testing.T) {
	base := func() Config {
		c := defaults(Idle)
		c.Target, c.Admin, c.AdminToken = mustURL(t, "http://127.0.0.1:8080"), mustURL(t, "http://127.0.0.1:8081"), "pcd_x"
		c.Users, c.Sources = 100, addrs("127.0.0.1")
		return c
	}
	tests := []struct {
		name string
		args []string
		want func() Config
	}{
		{"defaults", args("idle"), base},
		{"range", args("idle", "--connections", "50000", "--sources", "127.0.0.1-127.0.0.4", "--settle", "0s", "--duration", "5m", "--concurrency", "512"),
			func() Config {
				c := base()
				c.Connections, c.Users, c.Settle, c.Duration, c.Concurrency = 50000, 5000, 0, 5*time.Minute, 512
				c.Sources = addrs("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
				return c
			}},
		{"list and ranges mixed, spaces", args("idle", "--connections", "5", "--users", "5", "--sources", " 127.0.0.9, 127.1.0.254-127.1.1.1 ,::ffff:127.0.0.2"),
			func() Config {
				c := base()
				c.Connections, c.Users = 5, 5
				c.Sources = addrs("127.0.0.9", "127.1.0.254", "127.1.0.255", "127.1.1.0", "127.1.1.1", "127.0.0.2")
				return c
			}},
		{"few connections: one user", args("idle", "--connections", "9"),
			func() Config {
				c := base()
				c.Connections, c.Users = 9, 1
				return c
			}},
		{"IPv6 target and source", []string{"idle", "--target", "http://[::1]:8080", "--admin", "http://127.0.0.1:8081", "--admin-token", "pcd_x", "--sources", "::1"},
			func() Config {
				c := base()
				c.Target, c.Sources = mustURL(t, "http://[::1]:8080"), addrs("::1")
				return c
			}},
		{"localhost target", []string{"idle", "--target", "http://localhost:8080", "--admin", "http://127.0.0.1:8081", "--admin-token", "pcd_x"},
			func() Config {
				c := base()
				c.Target = mustURL(t, "http://localhost:8080")
				return c
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseArgs(tt.args, io.Discard, roomy)
			if err != nil {
				t.Fatalf("parseArgs: %v", err)
			}
			if diff := cmp.Diff(tt.want(), got, cmpopts.IgnoreUnexported(Config{}), cmpAddr); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseArgsIdleErrors(t *testing.T) {
	limits := func(noFile uint64, ports int) func() hostLimits {
		return func() hostLimits { return hostLimits{NoFile: noFile, NoFileMax: noFile * 2, Ports: ports} }
	}
	many := make([]string, maxSources+1)
	for i := range many {
		many[i] = fmt.Sprintf("127.0.%d.%d", i/256, i%256)
	}
	tests := []struct {
		name   string
		args   []string
		limits func() hostLimits
		want   []string // every line of the error, in order
	}{
		{"not loopback", args("idle", "--sources", "127.0.0.1,10.0.0.1"), roomy,
			[]string{"--sources: 10.0.0.1 is not a loopback address: connections leave only from 127.0.0.0/8 or ::1"}},
		{"range leaving loopback", args("idle", "--sources", "127.255.255.254-128.0.0.1"), roomy,
			[]string{"--sources: 128.0.0.1 is not a loopback address: connections leave only from 127.0.0.0/8 or ::1"}},
		{"not an address", args("idle", "--sources", "localhost"), roomy, []string{`--sources: "localhost" is not an IP address`}},
		{"bad range end", args("idle", "--sources", "127.0.0.1-"), roomy, []string{`--sources: "" is not an IP address`}},
		{"reversed range", args("idle", "--sources", "127.0.0.8-127.0.0.1"), roomy, []string{"--sources: range 127.0.0.8-127.0.0.1 ends before it starts"}},
		{"IPv6 range", args("idle", "--sources", "::1-::1"), roomy,
			[]string{"--sources: range ::1-::1: ranges are of IPv4 addresses (the only IPv6 loopback address is ::1)"}},
		{"twice", args("idle", "--sources", "127.0.0.1-127.0.0.3,127.0.0.2"), roomy, []string{"--sources: 127.0.0.2 is given twice"}},
		{"empty entry", args("idle", "--sources", "127.0.0.1,"), roomy, []string{`--sources: empty entry in "127.0.0.1,"`}},
		{"empty", args("idle", "--sources", " "), roomy, []string{"--sources: required: one or more loopback addresses, e.g. 127.0.0.1-127.0.0.8"}},
		{"zone", args("idle", "--sources", "::1%lo"), roomy, []string{"--sources: ::1%lo: no zone, please"}},
		{"too many", args("idle", "--sources", strings.Join(many, ",")), roomy, []string{"--sources: more than 1024 addresses"}},
		{"range too long", args("idle", "--sources", "127.0.0.0-127.255.255.255"), roomy,
			[]string{"--sources: range 127.0.0.0-127.255.255.255: more than 1024 addresses"}},
		{"target not loopback", []string{"idle", "--target", "http://gw.example.com:8080", "--admin", "http://127.0.0.1:8081", "--admin-token", "t"}, roomy,
			[]string{`--target: idle connects from loopback --sources, so the target must be a loopback address (127.0.0.0/8, [::1] or localhost), got "gw.example.com"`}},
		{"IP versions differ", []string{"idle", "--target", "http://[::1]:8080", "--admin", "http://127.0.0.1:8081", "--admin-token", "t"}, roomy,
			[]string{"--sources: 127.0.0.1 and --target ::1 are of different IP versions"}},
		{"sizes", args("idle", "--connections", "0", "--users", "2", "--settle", "-1s", "--concurrency", "0"), roomy,
			[]string{"--concurrency: must be 1..10000, got 0", "--connections: must be 1..1000000, got 0", "--users: must be 1..1 (at most --connections), got 2", "--settle: must be 0..10m0s, got -1s"}},
		{"more users than connections", args("idle", "--connections", "10", "--users", "11"), roomy,
			[]string{"--users: must be 1..10 (at most --connections), got 11"}},
		{"settle beyond duration", args("idle", "--settle", "20s", "--duration", "10s"), roomy,
			[]string{"--settle: must be at most --duration (10s), got 20s"}},
		{"flag of another scenario", args("idle", "--watchers", "5"), roomy,
			[]string{"idle: flag provided but not defined: -watchers (see presenced bench idle --help)"}},
		{"open files", args("idle", "--connections", "50000"), limits(20000, 60000),
			[]string{"--connections: 50000 connections need 50100 open files, more than this process's limit of 20000 (RLIMIT_NOFILE, hard limit 40000): raise it with `ulimit -n 60000` (the hard limit as root, or in /etc/security/limits.conf) in the shell that runs presenced bench, and the server's as well"}},
		{"open files just short", args("idle", "--connections", "19901"), limits(20000, 30000),
			[]string{"--connections: 19901 connections need 20001 open files, more than this process's limit of 20000 (RLIMIT_NOFILE, hard limit 40000): raise it with `ulimit -n 30000` (the hard limit as root, or in /etc/security/limits.conf) in the shell that runs presenced bench, and the server's as well"}},
		{"open-file limit unknown", args("idle"), func() hostLimits { return hostLimits{NoFileErr: errors.New("nope")} },
			[]string{"--connections: cannot check the open-file limit (RLIMIT_NOFILE): nope"}},
		{"ports per source", args("idle", "--connections", "50000", "--sources", "127.0.0.1,127.0.0.2"), limits(200000, 20000),
			[]string{"--sources: 50000 connections from 2 source address(es) are 25000 per address, more than the 20000 local ports of net.ipv4.ip_local_port_range: give at least 3 loopback addresses, e.g. --sources 127.0.0.1-127.0.0.3"}},
		{"both limits", args("idle", "--connections", "30000"), limits(1024, 28232),
			[]string{
				"--connections: 30000 connections need 30100 open files, more than this process's limit of 1024 (RLIMIT_NOFILE, hard limit 2048): raise it with `ulimit -n 40000` (the hard limit as root, or in /etc/security/limits.conf) in the shell that runs presenced bench, and the server's as well",
				"--sources: 30000 connections from 1 source address(es) are 30000 per address, more than the 28232 local ports of net.ipv4.ip_local_port_range: give at least 2 loopback addresses, e.g. --sources 127.0.0.1-127.0.0.2",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseArgs(tt.args, io.Discard, tt.limits)
			if err == nil {
				t.Fatal("parseArgs succeeded")
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseArgsIdleUnknownLimits(t *testing.T) {
	// Without a port range or descriptor limit (not Linux) nothing is
	// refused for want of them.
	if _, err := parseArgs(args("idle", "--connections", "900000"), io.Discard, func() hostLimits { return hostLimits{} }); err != nil {
		t.Fatal(err)
	}
}

func TestReadPortRange(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		content string
		want    int
	}{
		{"32768\t60999\n", 28232},
		{"1024 1024", 1},
		{"60999 32768", 0},
		{"32768", 0},
		{"a b", 0},
	}
	for i, tt := range tests {
		file := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(file, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := readPortRange(file); got != tt.want {
			t.Errorf("readPortRange(%q) = %d, want %d", tt.content, got, tt.want)
		}
	}
	if got := readPortRange(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("missing file: %d, want 0", got)
	}
}

func TestParseArgsIdleHelp(t *testing.T) {
	var out strings.Builder
	if _, err := ParseArgs([]string{"idle", "--help"}, &out); !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v, want ErrHelp", err)
	}
	for _, w := range []string{"Usage: presenced bench idle [flags]", "-connections", "-sources", "-settle", "-users"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("help lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), "-watchers") {
		t.Errorf("idle help offers -watchers:\n%s", out.String())
	}
}

// idleConfig is a valid idle Config against f.
func idleConfig(t *testing.T, f *fakeServer, n, users int, sources ...string) Config {
	t.Helper()
	c := defaults(Idle)
	u, err := url.Parse(f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.Target, c.Admin, c.AdminToken, c.Progress = u, u, "admin", 0
	c.Connections, c.Users, c.Sources = n, users, addrs(sources...)
	if ps := c.validate(); len(ps) > 0 {
		t.Fatal(ps)
	}
	return c
}

// idleResult is what TestRunIdle compares of a run.
type idleResult struct {
	Interrupted bool
	Idle        IdleStats
	Errors      Errors
	Warnings    []string
	BySource    map[string]int
	ByToken     map[string]int
}

func TestRunIdle(t *testing.T) {
	before := &ServerMemory{RSSBytes: 1 << 20, HeapInuseBytes: 1 << 19, StackInuseBytes: 1 << 16, Goroutines: 10}
	held := func(n int) *IdleReading {
		return &IdleReading{
			Open: n,
			Server: ServerMemory{RSSBytes: 1<<20 + 10240*uint64(n), HeapInuseBytes: 1<<19 + 4096*uint64(n),
				StackInuseBytes: 1<<16 + 8192*uint64(n), Goroutines: 10 + 2*n, StreamClients: n},
			PerConnection: &PerConnection{RSSBytes: 10240, HeapInuseBytes: 4096, StackInuseBytes: 8192, Goroutines: 2},
		}
	}
	tokens := func(users, each int) map[string]int {
		m := map[string]int{}
		for i := range users {
			m["tok-"+email(watcherPrefix, i)] = each
		}
		return m
	}
	notAtRest := held(20)
	notAtRest.PerConnection = &PerConnection{RSSBytes: 10240 - (1<<20)/20.0, HeapInuseBytes: 4096, StackInuseBytes: 8192, Goroutines: 2}
	noErrors := Errors{ByCode: map[string]uint64{}, ByTransport: map[string]uint64{}}
	tests := []struct {
		name      string
		setup     func(f *fakeServer, cfg *Config, cancel context.CancelFunc)
		wantErr   string
		want      idleResult
		wantClose int // normal close frames the fake receives
	}{
		{
			name:  "clean",
			setup: func(f *fakeServer, cfg *Config, _ context.CancelFunc) {},
			want: idleResult{
				Idle: IdleStats{Connections: 20, Users: 4, Sources: []string{"127.0.0.1", "127.0.0.2"}, Opened: 20,
					Before: before, AfterSettle: held(20), AtEnd: held(20)},
				Errors: noErrors, Warnings: []string{},
				BySource: map[string]int{"127.0.0.1": 10, "127.0.0.2": 10}, ByToken: tokens(4, 5),
			},
			wantClose: 20,
		},
		{
			name: "one user refused",
			setup: func(f *fakeServer, cfg *Config, _ context.CancelFunc) {
				cfg.Concurrency = 1 // the first failure is stream 2
				f.refuseStream = func(token string) (int, string) {
					if token == "tok-watcher-2@bench.test" {
						return 503, "server_busy"
					}
					return 0, ""
				}
			},
			wantErr: "opened 15 of 20 streams (5 handshakes failed; the first: stream 2 of watcher-2@bench.test from 127.0.0.2: websocket: 503 server_busy: fake)",
			want: idleResult{
				Idle: IdleStats{Connections: 20, Users: 4, Sources: []string{"127.0.0.1", "127.0.0.2"}, Opened: 15, Failed: 5,
					Before: before, AfterSettle: held(15), AtEnd: held(15)},
				Errors:   Errors{Total: 5, ByCode: map[string]uint64{"server_busy": 5}, ByTransport: map[string]uint64{}},
				Warnings: []string{},
				BySource: map[string]int{"127.0.0.1": 10, "127.0.0.2": 5}, ByToken: map[string]int{"tok-watcher-1@bench.test": 5, "tok-watcher-3@bench.test": 5, "tok-watcher-4@bench.test": 5},
			},
			wantClose: 15,
		},
		{
			name: "all refused",
			setup: func(f *fakeServer, cfg *Config, _ context.CancelFunc) {
				cfg.Concurrency = 1
				f.refuseStream = func(string) (int, string) { return 401, "unauthorized" }
			},
			wantErr: "no stream opened: stream 1 of watcher-1@bench.test from 127.0.0.1: websocket: 401 unauthorized: fake",
			want: idleResult{
				Idle:     IdleStats{Connections: 20, Users: 4, Sources: []string{"127.0.0.1", "127.0.0.2"}, Failed: 20, Before: before},
				Errors:   Errors{Total: 20, ByCode: map[string]uint64{"unauthorized": 20}, ByTransport: map[string]uint64{}},
				Warnings: []string{}, BySource: map[string]int{}, ByToken: map[string]int{},
			},
		},
		{
			name: "server not at rest before",
			setup: func(f *fakeServer, cfg *Config, _ context.CancelFunc) {
				f.onMetrics = func(n int) {
					f.mu.Lock()
					defer f.mu.Unlock()
					f.rssExtra = 0
					if n == 1 { // the reading before the first connect
						f.rssExtra = 1 << 20
					}
				}
			},
			want: idleResult{
				Idle: IdleStats{Connections: 20, Users: 4, Sources: []string{"127.0.0.1", "127.0.0.2"}, Opened: 20,
					Before:      &ServerMemory{RSSBytes: 2 << 20, HeapInuseBytes: 1 << 19, StackInuseBytes: 1 << 16, Goroutines: 10},
					AfterSettle: notAtRest, AtEnd: notAtRest},
				Errors: noErrors,
				Warnings: []string{
					"after --settle the server's memory is below its reading before the first connect, so it was not at rest then (the memory of an earlier run not yet collected?): measure against a freshly started server",
					"at the end the server's memory is below its reading before the first connect, so it was not at rest then (the memory of an earlier run not yet collected?): measure against a freshly started server",
				},
				BySource: map[string]int{"127.0.0.1": 10, "127.0.0.2": 10}, ByToken: tokens(4, 5),
			},
			wantClose: 20,
		},
		{
			name: "interrupted while settling",
			setup: func(f *fakeServer, cfg *Config, cancel context.CancelFunc) {
				cfg.Settle = time.Hour
				f.onMetrics = func(n int) {
					if n == 2 { // the reading once every stream is open
						cancel()
					}
				}
			},
			want: idleResult{
				Interrupted: true,
				Idle: IdleStats{Connections: 20, Users: 4, Sources: []string{"127.0.0.1", "127.0.0.2"}, Opened: 20,
					Before: before, AtEnd: held(20)},
				Errors: noErrors, Warnings: []string{},
				BySource: map[string]int{"127.0.0.1": 10, "127.0.0.2": 10}, ByToken: tokens(4, 5),
			},
			wantClose: 20,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t)
			cfg := idleConfig(t, f, 20, 4, "127.0.0.1", "127.0.0.2")
			cfg.Settle, cfg.Duration = 0, time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tt.setup(f, &cfg, cancel)

			sum, err := Run(ctx, cfg, io.Discard)
			if gotErr := fmt.Sprint(err); (tt.wantErr == "" && err != nil) || (tt.wantErr != "" && gotErr != tt.wantErr) {
				t.Errorf("Run error = %v, want %q", err, tt.wantErr)
			}
			if sum.Idle == nil {
				t.Fatal("summary has no idle section")
			}
			if sum.Idle.HandshakeLatency.Count != uint64(sum.Idle.Opened) {
				t.Errorf("%d handshake latencies for %d streams", sum.Idle.HandshakeLatency.Count, sum.Idle.Opened)
			}
			if sum.Idle.Opened > 0 && (sum.Idle.ConnectSeconds <= 0 || sum.Idle.ConnectsPerSecond <= 0) {
				t.Errorf("connect took %vs (%v/s)", sum.Idle.ConnectSeconds, sum.Idle.ConnectsPerSecond)
			}
			f.streamsDone.Wait() // the tool closed every stream
			f.mu.Lock()
			got := idleResult{sum.Interrupted, *sum.Idle, sum.Errors, sum.Warnings, f.bySource, f.byToken}
			closes, open := f.closeCodes[websocket.CloseNormalClosure], f.streams
			f.mu.Unlock()
			opts := cmpopts.IgnoreFields(IdleStats{}, "HandshakeLatency", "ConnectSeconds", "ConnectsPerSecond")
			if diff := cmp.Diff(tt.want, got, opts); diff != "" {
				t.Errorf("run (-want +got):\n%s", diff)
			}
			if closes != tt.wantClose || open != 0 {
				t.Errorf("fake received %d normal close frames and holds %d streams; want %d and 0", closes, open, tt.wantClose)
			}
		})
	}
}

// TestIdleStreamEnded checks that a stream the server ends during the run
// counts as ended early, by close code, with a warning; and that streams
// closed by stop do not.
func TestIdleStreamEnded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		if r.URL.Query().Get("drop") != "" {
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "slow"), time.Now().Add(time.Second))
			return
		}
		_ = conn.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second))
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	r := &runner{out: io.Discard}
	ic := &idleConns{r: r, conns: make([]*websocket.Conn, 2)}
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http")
	for i, q := range []string{"?drop=1", ""} {
		conn, _, err := websocket.DefaultDialer.Dial(wsURL+q, nil)
		if err != nil {
			t.Fatal(err)
		}
		ic.hold(i, conn)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ic.ended.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := ic.open(); got != 1 {
		t.Errorf("open = %d, want 1", got)
	}
	ic.stop()
	ic.stop() // idempotent
	_, byTransport := r.rec.errorCounts()
	got := struct {
		Ended       int64
		ByTransport map[string]uint64
		Warnings    []string
	}{ic.ended.Load(), byTransport, r.warnings}
	want := got
	want.Ended, want.ByTransport = 1, map[string]uint64{"ws_close_1008": 1}
	want.Warnings = []string{"streams ended during the run (ws_close_1008): the server closed them or stopped answering"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestIdleSummary(t *testing.T) {
	r := &runner{cfg: defaults(Idle), out: io.Discard, started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), waiting: -1}
	r.cfg.Target = &url.URL{Scheme: "http", Host: "127.0.0.1:8080"}
	r.cfg.Users, r.cfg.Sources = 100, addrs("127.0.0.1", "127.0.0.2")
	r.measureStart = r.started
	r.measureEnd = r.started.Add(30 * time.Second)
	for range 1000 {
		r.handshakes.Record(2 * time.Millisecond)
	}
	r.before = Metrics{metricCPU: 1}
	r.after = Metrics{metricCPU: 1.25, metricRSS: 60 << 20}
	mem := func(rss, heap, stack uint64, g, streams int) ServerMemory {
		return ServerMemory{RSSBytes: rss, HeapInuseBytes: heap, StackInuseBytes: stack, Goroutines: g, StreamClients: streams}
	}
	b := mem(50<<20, 10<<20, 1<<20, 40, 0)
	r.idle = &IdleStats{
		Connections: 1000, Users: 100, Sources: []string{"127.0.0.1", "127.0.0.2"}, Opened: 1000,
		ConnectSeconds: 0.5, ConnectsPerSecond: 2000, Before: &b,
		AfterSettle: &IdleReading{Open: 1000, Server: mem(60<<20, 14<<20, 9<<20, 2040, 1000),
			PerConnection: &PerConnection{RSSBytes: 10485.76, HeapInuseBytes: 4194.304, StackInuseBytes: 8388.608, Goroutines: 2}},
	}

	var buf strings.Builder
	if err := r.summary(false).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &got); err != nil {
		t.Fatal(err)
	}
	memory := func(rss, heap, stack, g, streams float64) map[string]any {
		return map[string]any{"rss_bytes": rss, "heap_inuse_bytes": heap, "stack_inuse_bytes": stack, "goroutines": g, "stream_clients": streams}
	}
	want := map[string]any{
		"scenario": "idle",
		"parameters": map[string]any{
			"target": "http://127.0.0.1:8080", "duration": "30s", "concurrency": 256.0, "seed": 0.0,
			"connections": 1000.0, "users": 100.0, "sources": []any{"127.0.0.1", "127.0.0.2"}, "settle": "10s",
		},
		"started_at": "2026-01-02T03:04:05Z", "duration_seconds": 30.0, "interrupted": false,
		"operations": 0.0, "operations_per_second": 0.0, "operations_by_kind": map[string]any{},
		"deliveries": 0.0, "deliveries_per_second": 0.0, "expected_deliveries": 0.0, "lost_deliveries": 0.0,
		"request_latency_ms": map[string]any{"count": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0},
		"errors":             map[string]any{"total": 0.0, "by_code": map[string]any{}, "by_transport": map[string]any{}},
		"server": map[string]any{
			"rss_bytes": float64(60 << 20), "backend_watches": 0.0, "backend_capacity": 0.0, "watched_contacts": 0.0, "waiting_contacts": -1.0,
			"cpu_seconds": 0.25, "contact_changes": 0.0, "server_deliveries": 0.0, "listener_drops": 0.0, "stream_drops": 0.0, "coalesced_updates": 0.0, "stream_writes": 0.0,
		},
		"idle": map[string]any{
			"connections": 1000.0, "users": 100.0, "sources": []any{"127.0.0.1", "127.0.0.2"},
			"opened": 1000.0, "failed": 0.0, "ended": 0.0, "connect_seconds": 0.5, "connects_per_second": 2000.0,
			"handshake_latency_ms": map[string]any{"count": 1000.0, "p50": 2.0, "p95": 2.0, "p99": 2.0, "max": 2.0, "mean": 2.0},
			"before":               memory(50<<20, 10<<20, 1<<20, 40, 0),
			"after_settle": map[string]any{
				"open": 1000.0, "server": memory(60<<20, 14<<20, 9<<20, 2040, 1000),
				"per_connection": map[string]any{"rss_bytes": 10485.76, "heap_inuse_bytes": 4194.304, "stack_inuse_bytes": 8388.608, "goroutines": 2.0},
			},
			"at_end": nil,
		},
		"warnings": []any{},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary JSON (-want +got):\n%s", diff)
	}

	var text strings.Builder
	if err := r.summary(false).WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"presenced bench idle against http://127.0.0.1:8080: 30.0s measured (complete)",
		"  parameters         concurrency=256 connections=1000 users=100 sources=127.0.0.1,127.0.0.2 settle=10s",
		"  streams            1000 of 1000 opened, 0 failed, 0 ended early; 100 users, 2 source addresses",
		"  connect            0.50s (2000/s)",
		"  handshake latency  p50 2.00ms  p95 2.00ms  p99 2.00ms  max 2.00ms  (n=1000)",
		"  server cpu         0.25s",
		"  server before      rss 50.0 MiB  heap 10.0 MiB  stack 1.0 MiB  goroutines 40  websocket streams 0",
		"  after settle       rss 60.0 MiB  heap 14.0 MiB  stack 9.0 MiB  goroutines 2040  websocket streams 1000",
		"    per connection   rss 10.24 KiB  heap 4.10 KiB  stack 8.19 KiB  goroutines 2.00  (1000 open)",
		"  at end             not read",
	} {
		if !strings.Contains(text.String(), line+"\n") {
			t.Errorf("text summary lacks %q:\n%s", line, text.String())
		}
	}
	for _, absent := range []string{"request latency", "operations", "backend watches"} {
		if strings.Contains(text.String(), absent) {
			t.Errorf("idle text summary shows %q:\n%s", absent, text.String())
		}
	}
}
