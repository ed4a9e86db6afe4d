package stream

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/presence"
	"github.com/presenced/presenced/internal/status"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testUser = "alice@example.com"

// fakeHub hands out plain listeners and lets the test reach them, in the
// order Listen was called, to Offer events.
type fakeHub struct {
	listeners chan *presence.Listener

	mu     sync.Mutex // guards users and closed
	users  []string
	closed int
}

func newFakeHub() *fakeHub {
	return &fakeHub{listeners: make(chan *presence.Listener, 64)}
}

func (h *fakeHub) Listen(user string, queueSize int) *presence.Listener {
	l := presence.NewListener(user, queueSize, func(*presence.Listener) {
		h.mu.Lock()
		h.closed++
		h.mu.Unlock()
	})
	h.mu.Lock()
	h.users = append(h.users, user)
	h.mu.Unlock()
	h.listeners <- l
	return l
}

// closes returns how many listeners have been closed or dropped.
func (h *fakeHub) closes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// listened returns the users Listen was called for.
func (h *fakeHub) listened() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.users...)
}

// next returns the listener of the next stream to open.
func (h *fakeHub) next(tb testing.TB) *presence.Listener {
	tb.Helper()
	select {
	case l := <-h.listeners:
		return l
	case <-time.After(10 * time.Second):
		tb.Fatal("timed out waiting for a stream to listen")
		return nil
	}
}

// env is a Server behind an httptest server, serving testUser.
type env struct {
	hub    *fakeHub
	srv    *Server
	ts     *httptest.Server
	client *http.Client
	errs   chan error // non-nil Serve results
}

func newEnv(tb testing.TB, cfg Config) *env {
	tb.Helper()
	e := &env{hub: newFakeHub(), errs: make(chan error, 64)}
	e.srv = NewServer(cfg, e.hub, testLogger(tb), prometheus.NewRegistry())
	e.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := e.srv.Serve(w, r, testUser)
		if err == nil {
			return
		}
		e.errs <- err
		var he *HandshakeError
		switch {
		case errors.Is(err, ErrNotStream):
			http.Error(w, err.Error(), http.StatusNotAcceptable)
		case errors.Is(err, ErrClosed):
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		case errors.As(err, &he):
			http.Error(w, err.Error(), he.Status)
		}
	}))
	transport := &http.Transport{}
	e.client = &http.Client{Transport: transport}
	tb.Cleanup(func() {
		e.ts.Close()
		transport.CloseIdleConnections()
	})
	// Registered after (so run before) closing the HTTP server: end the
	// streams the test left open.
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
	})
	return e
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// eventually polls cond until it holds, failing after a generous deadline
// that only stops a broken test from hanging.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitIdle waits for every stream of e to end and for the hub to have seen
// listeners Closes, and checks the client gauges are back to zero.
func (e *env) waitIdle(tb testing.TB, listeners int) {
	tb.Helper()
	eventually(tb, "streams to end", func() bool { return e.srv.Clients() == 0 })
	eventually(tb, "listeners to close", func() bool { return e.hub.closes() == listeners })
	for _, tr := range []string{transportWebSocket, transportSSE} {
		if got := testutil.ToFloat64(e.srv.metrics.clients[tr]); got != 0 {
			tb.Errorf("clients{transport=%q} = %v after all streams ended, want 0", tr, got)
		}
	}
}

func changed(sub string, seq uint64, contact string, p status.Presence) presence.Event {
	return presence.Event{
		Kind:         presence.PresenceChanged,
		Subscription: sub,
		Sequence:     seq,
		Change:       &presence.Change{Contact: contact, Presence: p},
	}
}

func expired(sub string) presence.Event {
	return presence.Event{Kind: presence.SubscriptionExpired, Subscription: sub}
}

// offer queues evs on l, failing if any does not fit.
func offer(tb testing.TB, l *presence.Listener, evs ...presence.Event) {
	tb.Helper()
	for _, ev := range evs {
		if !l.Offer(ev) {
			tb.Fatalf("Offer(%+v) = false", ev)
		}
	}
}

// offerUntilDropped offers events with a large note to l, which nobody
// reads, until the listener's queue overflows. The client's socket
// buffers are finite, so the writer must block and the queue fill.
func offerUntilDropped(tb testing.TB, l *presence.Listener) {
	tb.Helper()
	change := &presence.Change{
		Contact:  "bob@example.com",
		Presence: status.Presence{Availability: status.Busy, Note: strings.Repeat("n", 16<<10)},
	}
	for seq := uint64(1); seq <= 1<<20; seq++ {
		if !l.Offer(presence.Event{Kind: presence.PresenceChanged, Subscription: "s1", Sequence: seq, Change: change}) {
			break
		}
	}
	if !l.Overflowed() {
		tb.Fatal("listener was not dropped for overflow")
	}
}

// offerUntilClosed keeps a few large events queued on l, never letting the
// queue fill, until the server closes l (a write timed out).
func offerUntilClosed(tb testing.TB, l *presence.Listener) {
	tb.Helper()
	change := &presence.Change{
		Contact:  "bob@example.com",
		Presence: status.Presence{Availability: status.Busy, Note: strings.Repeat("n", 16<<10)},
	}
	half := l.Cap() / 2
	seq := uint64(0)
	eventually(tb, "the server to close the listener", func() bool {
		select {
		case <-l.Done():
			return true
		default:
		}
		for l.Len() < half {
			seq++
			l.Offer(presence.Event{Kind: presence.PresenceChanged, Subscription: "s1", Sequence: seq, Change: change})
		}
		return false
	})
	if l.Overflowed() {
		tb.Fatal("listener overflowed; want it closed by the server")
	}
}

func decode(tb testing.TB, s string) any {
	tb.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		tb.Fatalf("invalid JSON %q: %v", s, err)
	}
	return v
}

// basicEvents are the events most tests send, with the JSON each must
// arrive as.
func basicEvents() ([]presence.Event, []string) {
	since := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	evs := []presence.Event{
		changed("s1", 17, "bob@example.com", status.Presence{
			Availability: status.Busy, Activity: "InAMeeting", Note: "back at 3", Since: since,
		}),
		changed("s1", 18, "carol@example.com", status.UnknownBecause(status.NotFound)),
		expired("s2"),
	}
	want := []string{
		`{"type":"presence","subscription":"s1","sequence":17,"presence":{"user":"bob@example.com","availability":"Busy","code":6000,"activity":"InAMeeting","note":"back at 3","since":"2026-11-23T10:00:00Z"}}`,
		`{"type":"presence","subscription":"s1","sequence":18,"presence":{"user":"carol@example.com","availability":"Unknown","code":-1,"reason":"not_found"}}`,
		`{"type":"expired","subscription":"s2"}`,
	}
	return evs, want
}

func TestAppendEvent(t *testing.T) {
	evs, want := basicEvents()
	tests := []struct {
		name   string
		ev     presence.Event
		want   string
		wantOK bool
	}{
		{"presence", evs[0], want[0], true},
		{"unknown with reason", evs[1], want[1], true},
		{"expired", evs[2], want[2], true},
		{"escaped id", expired(`a"<b>`), `{"type":"expired","subscription":"a\"\u003cb\u003e"}`, true},
		{"presence without change", presence.Event{Kind: presence.PresenceChanged, Subscription: "s1"}, "", false},
		{"unknown kind", presence.Event{Kind: 99, Subscription: "s1"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := appendEvent(nil, tt.ev)
			if ok != tt.wantOK || string(got) != tt.want {
				t.Errorf("appendEvent = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
			if ok {
				// The JSON must also be what encoding/json reads back.
				if diff := cmp.Diff(decode(t, tt.want), decode(t, string(got))); diff != "" {
					t.Errorf("decoded mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestAppendEventCachesEncoding(t *testing.T) {
	ev := changed("s1", 1, "bob@example.com", status.Presence{Availability: status.Away})
	first, _ := appendEvent(nil, ev)
	// A second subscription delivering the same change reuses its cached
	// presence JSON: the encoder must not run again.
	ev2 := ev
	ev2.Subscription, ev2.Sequence = "s2", 9
	ev.Change.Encoded(func(*presence.Change) []byte {
		t.Fatal("change encoded twice")
		return nil
	})
	second, _ := appendEvent(nil, ev2)
	wantFirst := `{"type":"presence","subscription":"s1","sequence":1,"presence":{"user":"bob@example.com","availability":"Away","code":15500}}`
	wantSecond := `{"type":"presence","subscription":"s2","sequence":9,"presence":{"user":"bob@example.com","availability":"Away","code":15500}}`
	if diff := cmp.Diff([]string{wantFirst, wantSecond}, []string{string(first), string(second)}); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestAcceptsEventStream(t *testing.T) {
	tests := []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"application/json"}, false},
		{[]string{"text/event-stream"}, true},
		{[]string{"Text/Event-Stream"}, true},
		{[]string{"application/json, text/event-stream;q=0.9"}, true},
		{[]string{"application/json", "text/event-stream"}, true},
		{[]string{"text/event-streams"}, false},
		{[]string{"*/*"}, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/v1/stream", nil)
		for _, a := range tt.accept {
			r.Header.Add("Accept", a)
		}
		if got := acceptsEventStream(r); got != tt.want {
			t.Errorf("acceptsEventStream(Accept: %q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

// untouched reports how rec differs from a recorder nothing was written to.
func untouched(rec *httptest.ResponseRecorder) string {
	type state struct {
		Headers http.Header
		Body    string
		Flushed bool
	}
	return cmp.Diff(state{Headers: http.Header{}}, state{rec.Header(), rec.Body.String(), rec.Flushed})
}

func wsRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/stream", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	return r
}

func sseRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/stream", nil)
	r.Header.Set("Accept", "text/event-stream")
	return r
}

func TestServeNotStream(t *testing.T) {
	for _, accept := range []string{"", "application/json", "text/html, */*"} {
		hub := newFakeHub()
		srv := NewServer(Config{}, hub, nil, nil)
		r := httptest.NewRequest(http.MethodGet, "/v1/stream", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		rec := httptest.NewRecorder()
		if err := srv.Serve(rec, r, testUser); !errors.Is(err, ErrNotStream) {
			t.Errorf("Accept %q: Serve = %v, want ErrNotStream", accept, err)
		}
		if diff := untouched(rec); diff != "" {
			t.Errorf("Accept %q: response written (-want +got):\n%s", accept, diff)
		}
		if got := hub.listened(); len(got) != 0 {
			t.Errorf("Accept %q: hub listened for %q", accept, got)
		}
	}
}

func TestServeAfterShutdown(t *testing.T) {
	hub := newFakeHub()
	srv := NewServer(Config{}, hub, nil, nil)
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown with no streams = %v", err)
	}
	for name, r := range map[string]*http.Request{"websocket": wsRequest(), "sse": sseRequest()} {
		rec := httptest.NewRecorder()
		if err := srv.Serve(rec, r, testUser); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: Serve after Shutdown = %v, want ErrClosed", name, err)
		}
		if diff := untouched(rec); diff != "" {
			t.Errorf("%s: response written (-want +got):\n%s", name, diff)
		}
	}
	if got := hub.listened(); len(got) != 0 {
		t.Errorf("hub listened for %q after Shutdown", got)
	}
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown = %v", err)
	}
}

func TestSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewServer(Config{}, newFakeHub(), nil, reg)
	b := NewServer(Config{}, newFakeHub(), nil, reg) // must not panic
	a.metrics.drops[dropWriteError].Inc()
	if got := testutil.ToFloat64(b.metrics.drops[dropWriteError]); got != 1 {
		t.Errorf("second server's drop counter = %v, want the shared counter at 1", got)
	}
	n, err := testutil.GatherAndCount(reg, "presenced_stream_clients", "presenced_stream_events_sent_total", "presenced_stream_drops_total")
	if err != nil {
		t.Fatal(err)
	}
	// 2 transports x 2 metrics + 4 drop reasons, created up front.
	if n != 8 {
		t.Errorf("%d series, want 8", n)
	}
}
