package stream

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/presenced/presenced/internal/clock/clocktest"
)

// dial opens a WebSocket stream to e. The connection gets a generous read
// deadline so that a broken test fails instead of hanging.
func (e *env) dial(tb testing.TB) *websocket.Conn {
	tb.Helper()
	url := "ws" + strings.TrimPrefix(e.ts.URL, "http") + "/v1/stream"
	conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	tb.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	return conn
}

// readEvent reads one text frame and decodes it.
func readEvent(tb testing.TB, conn *websocket.Conn) any {
	tb.Helper()
	typ, data, err := conn.ReadMessage()
	if err != nil {
		tb.Fatalf("read event: %v", err)
	}
	if typ != websocket.TextMessage {
		tb.Fatalf("frame type %d, want text", typ)
	}
	return decode(tb, string(data))
}

// readUntilClose reads frames until the connection ends, returning the
// sequences of the presence events read and the final error.
func readUntilClose(tb testing.TB, conn *websocket.Conn) ([]uint64, error) {
	tb.Helper()
	var seqs []uint64
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return seqs, err
		}
		ev, ok := decode(tb, string(data)).(map[string]any)
		if !ok || ev["type"] != "presence" {
			tb.Fatalf("unexpected frame %s", data)
		}
		seqs = append(seqs, uint64(ev["sequence"].(float64)))
	}
}

// checkPrefix checks seqs is 1, 2, ..., len(seqs): events in order,
// none lost before the drop.
func checkPrefix(tb testing.TB, seqs []uint64) {
	tb.Helper()
	for i, s := range seqs {
		if s != uint64(i+1) {
			tb.Fatalf("event %d has sequence %d, want %d (in order, none skipped)", i, s, i+1)
		}
	}
}

// notePings answers the server's pings on conn as gorilla's default
// handler does, and signals each on the returned channel (of capacity n;
// further pings are not signalled until it is read).
func notePings(conn *websocket.Conn, n int) <-chan struct{} {
	pings := make(chan struct{}, n)
	conn.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(10*time.Second))
	})
	return pings
}

func wantClose(tb testing.TB, err error, code int, text string) {
	tb.Helper()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		tb.Fatalf("stream ended with %v, want close %d %q", err, code, text)
	}
	if diff := cmp.Diff(websocket.CloseError{Code: code, Text: text}, *ce); diff != "" {
		tb.Errorf("close frame (-want +got):\n%s", diff)
	}
}

func TestWebSocketEvents(t *testing.T) {
	e := newEnv(t, Config{})
	conn := e.dial(t)
	l := e.hub.next(t)
	if got := l.User(); got != testUser {
		t.Errorf("listener for %q, want %q", got, testUser)
	}
	if got, want := l.Cap(), DefaultQueueSize; got != want {
		t.Errorf("queue size %d, want default %d", got, want)
	}

	evs, want := basicEvents()
	offer(t, l, evs...)
	var got, wantJSON []any
	for _, w := range want {
		wantJSON = append(wantJSON, decode(t, w))
		got = append(got, readEvent(t, conn))
	}
	if diff := cmp.Diff(wantJSON, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// The counter moves just after the write the client has read.
	eventually(t, "events_sent_total to reach 3", func() bool {
		return testutil.ToFloat64(e.srv.metrics.sent[transportWebSocket]) == 3
	})
	if got := testutil.ToFloat64(e.srv.metrics.clients[transportWebSocket]); got != 1 {
		t.Errorf("websocket clients gauge = %v, want 1", got)
	}
	if got := e.srv.Clients(); got != 1 {
		t.Errorf("Clients() = %d, want 1", got)
	}
}

func TestWebSocketClientLeaves(t *testing.T) {
	tests := []struct {
		name  string
		leave func(*websocket.Conn) error
	}{
		{"close handshake", func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		}},
		{"connection dropped", func(c *websocket.Conn) error { return c.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			conn := e.dial(t)
			l := e.hub.next(t)
			if err := tt.leave(conn); err != nil {
				t.Fatal(err)
			}
			e.waitIdle(t, 1)
			select {
			case <-l.Done():
			default:
				t.Error("listener not closed")
			}
			for reason, c := range e.srv.metrics.drops {
				if got := testutil.ToFloat64(c); got != 0 {
					t.Errorf("drops{reason=%q} = %v, want 0 for a client leaving", reason, got)
				}
			}
		})
	}
}

func TestWebSocketSlowConsumer(t *testing.T) {
	e := newEnv(t, Config{QueueSize: 2, WriteTimeout: time.Minute})
	healthy := e.dial(t)
	lh := e.hub.next(t)
	slow := e.dial(t)
	ls := e.hub.next(t)

	// The slow client reads nothing: its writer blocks on the full socket
	// and its queue overflows.
	offerUntilDropped(t, ls)

	// Meanwhile the healthy client, on the same server, is served.
	evs, want := basicEvents()
	offer(t, lh, evs[0])
	if diff := cmp.Diff(decode(t, want[0]), readEvent(t, healthy)); diff != "" {
		t.Errorf("healthy client event (-want +got):\n%s", diff)
	}

	seqs, err := readUntilClose(t, slow)
	checkPrefix(t, seqs)
	wantClose(t, err, websocket.ClosePolicyViolation, "slow consumer")
	if got := testutil.ToFloat64(e.srv.metrics.drops[dropSlowConsumer]); got != 1 {
		t.Errorf("drops{reason=slow_consumer} = %v, want 1", got)
	}

	// The healthy client still receives after the slow one was dropped.
	offer(t, lh, evs[2])
	if diff := cmp.Diff(decode(t, want[2]), readEvent(t, healthy)); diff != "" {
		t.Errorf("healthy client event after drop (-want +got):\n%s", diff)
	}
	eventually(t, "the slow stream to end", func() bool { return e.srv.Clients() == 1 })
}

func TestWebSocketWriteTimeout(t *testing.T) {
	e := newEnv(t, Config{QueueSize: 64, WriteTimeout: 100 * time.Millisecond})
	conn := e.dial(t)
	l := e.hub.next(t)

	// The client reads nothing, but the queue never fills: the stream
	// must end because a write times out.
	offerUntilClosed(t, l)
	if got := testutil.ToFloat64(e.srv.metrics.drops[dropWriteTimeout]); got != 1 {
		t.Errorf("drops{reason=write_timeout} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(e.srv.metrics.drops[dropSlowConsumer]); got != 0 {
		t.Errorf("drops{reason=slow_consumer} = %v, want 0", got)
	}
	if _, err := readUntilClose(t, conn); err == nil {
		t.Error("stream did not end")
	}
	e.waitIdle(t, 1)
}

func TestWebSocketShutdown(t *testing.T) {
	e := newEnv(t, Config{})
	conns := []*websocket.Conn{e.dial(t), e.dial(t)}
	for range conns {
		e.hub.next(t)
	}

	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(context.Background()) }()
	for _, c := range conns {
		_, err := readUntilClose(t, c)
		wantClose(t, err, websocket.CloseGoingAway, "going away")
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if got := e.srv.Clients(); got != 0 {
		t.Errorf("Clients() = %d after Shutdown", got)
	}
	e.waitIdle(t, 2)

	url := "ws" + strings.TrimPrefix(e.ts.URL, "http") + "/v1/stream"
	_, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if !errors.Is(err, websocket.ErrBadHandshake) || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Shutdown = %v, %v; want a refused handshake", err, resp)
	}
	resp.Body.Close()
	select {
	case err := <-e.errs:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Serve after Shutdown = %v, want ErrClosed", err)
		}
	default:
		t.Error("Serve after Shutdown returned no error")
	}
}

func TestWebSocketShutdownDeadline(t *testing.T) {
	e := newEnv(t, Config{WriteTimeout: time.Hour})
	conn := e.dial(t)
	e.hub.next(t)

	// The client does not answer the close frame, so its stream outlives
	// a Shutdown whose context is already done.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown(done ctx) = %v, want context.Canceled", err)
	}
	if got := e.srv.Clients(); got != 1 {
		t.Errorf("Clients() = %d, want the unfinished stream", got)
	}

	// Once the client answers, the stream ends and Shutdown completes.
	_, err := readUntilClose(t, conn)
	wantClose(t, err, websocket.CloseGoingAway, "going away")
	if err := e.srv.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown = %v", err)
	}
	e.waitIdle(t, 1)
}

func TestWebSocketPing(t *testing.T) {
	e := newEnv(t, Config{PingInterval: 200 * time.Millisecond})
	conn := e.dial(t)
	e.hub.next(t)

	pinged := notePings(conn, 1)
	readDone := make(chan error, 1)
	go func() {
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				readDone <- err
				return
			}
		}
	}()
	select {
	case <-pinged:
	case <-time.After(10 * time.Second):
		t.Error("no ping arrived")
	}
	conn.Close()
	<-readDone
	e.waitIdle(t, 1)
}

func TestWebSocketPongTimeout(t *testing.T) {
	e := newEnv(t, Config{PingInterval: 50 * time.Millisecond})
	e.dial(t) // never reads, so never answers a ping
	e.hub.next(t)
	e.waitIdle(t, 1)
	if got := testutil.ToFloat64(e.srv.metrics.drops[dropPongTimeout]); got != 1 {
		t.Errorf("drops{reason=pong_timeout} = %v, want 1", got)
	}
}

func TestWebSocketHandshakeError(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*http.Request)
		status int
	}{
		{"bad version", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8") }, http.StatusBadRequest},
		{"bad key", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "short") }, http.StatusBadRequest},
		{"not GET", func(r *http.Request) { r.Method = http.MethodPost }, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newFakeHub()
			srv := NewServer(Config{}, hub, nil, nil)
			r := wsRequest()
			tt.modify(r)
			rec := httptest.NewRecorder()
			err := srv.Serve(rec, r, testUser)
			var he *HandshakeError
			if !errors.As(err, &he) || he.Status != tt.status {
				t.Fatalf("Serve = %v, want a HandshakeError with status %d", err, tt.status)
			}
			if diff := untouched(rec); diff != "" {
				t.Errorf("response written (-want +got):\n%s", diff)
			}
			if got := hub.closes(); got != 1 {
				t.Errorf("%d listeners closed, want the one attached", got)
			}
			if got := srv.Clients(); got != 0 {
				t.Errorf("Clients() = %d", got)
			}
		})
	}
}

func TestWebSocketClientPing(t *testing.T) {
	e := newEnv(t, Config{})
	conn := e.dial(t)
	e.hub.next(t)

	pong := make(chan string, 1)
	conn.SetPongHandler(func(data string) error {
		pong <- data
		return nil
	})
	readDone := make(chan error, 1)
	go func() {
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				readDone <- err
				return
			}
		}
	}()
	if err := conn.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-pong:
		if got != "hi" {
			t.Errorf("pong %q, want %q", got, "hi")
		}
	case <-time.After(10 * time.Second):
		t.Error("no pong arrived")
	}
	conn.Close()
	<-readDone
	e.waitIdle(t, 1)
}

func TestWebSocketWriteDelay(t *testing.T) {
	clk := clocktest.New(time.Unix(1_700_000_000, 0))
	e := newEnv(t, Config{WriteDelay: time.Second, Clock: clk})
	conn := e.dial(t)
	l := e.hub.next(t)
	// The flush ticker is armed once the session's loops run.
	eventually(t, "the write-delay ticker to be armed", func() bool { return clk.Pending() == 1 })

	sent := e.srv.metrics.sent[transportWebSocket]
	writes := e.srv.metrics.writes[transportWebSocket]
	evs, want := basicEvents()
	for round := 1; round <= 2; round++ {
		offer(t, l, evs...)
		// Offer calls the notify hook synchronously: with a write delay
		// it holds the session instead of starting a writer.
		if got := testutil.ToFloat64(writes); got != float64(round-1) {
			t.Fatalf("round %d: %v writes before the tick, want %d", round, got, round-1)
		}
		clk.Advance(time.Second)
		var got, wantJSON []any
		for _, w := range want {
			wantJSON = append(wantJSON, decode(t, w))
			got = append(got, readEvent(t, conn))
		}
		if diff := cmp.Diff(wantJSON, got); diff != "" {
			t.Errorf("round %d: events (-want +got):\n%s", round, diff)
		}
		eventually(t, "events_sent_total to count the round", func() bool {
			return testutil.ToFloat64(sent) == float64(round*len(want))
		})
		// Everything held until the tick left in one write.
		if got := testutil.ToFloat64(writes); got != float64(round) {
			t.Errorf("round %d: %v writes, want %d (one per tick)", round, got, round)
		}
	}
}

func TestWebSocketWritesCounted(t *testing.T) {
	e := newEnv(t, Config{})
	conn := e.dial(t)
	l := e.hub.next(t)
	evs, want := basicEvents()
	for i := range want {
		offer(t, l, evs[i])
		readEvent(t, conn)
		// The write is counted just after the client could read it.
		eventually(t, "the write to be counted", func() bool {
			return testutil.ToFloat64(e.srv.metrics.writes[transportWebSocket]) == float64(i+1)
		})
	}
}

// A ping sets the connection's write deadline (gorilla's WriteControl
// does); events written after it must still get the whole write timeout,
// not the short deadline of the idle ping.
func TestWebSocketEventsAfterPing(t *testing.T) {
	e := newEnv(t, Config{PingInterval: time.Second, WriteTimeout: 8 * time.Second})
	conn := e.dial(t)
	l := e.hub.next(t)
	pings := notePings(conn, 64)
	// One goroutine reads (gorilla runs the ping handler inside it).
	frames := make(chan error, 16)
	go func() {
		for {
			_, _, err := conn.ReadMessage()
			frames <- err
			if err != nil {
				return
			}
		}
	}()
	evs, _ := basicEvents()
	for i := range 3 {
		offer(t, l, evs[0])
		select {
		case err := <-frames:
			if err != nil {
				t.Fatalf("event %d: %v (want it delivered after the ping)", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d did not arrive", i)
		}
		for len(pings) > 0 {
			<-pings
		}
		select {
		case <-pings:
		case <-time.After(10 * time.Second):
			t.Fatal("no ping arrived")
		}
		// Past the ping's own write deadline, before the next ping, well
		// within the write timeout.
		time.Sleep(pingWriteTimeout + 150*time.Millisecond)
	}
	if got := testutil.ToFloat64(e.srv.metrics.drops[dropWriteTimeout]); got != 0 {
		t.Errorf("%v write-timeout drops, want 0", got)
	}
	conn.Close()
	<-frames
	e.waitIdle(t, 1)
}
