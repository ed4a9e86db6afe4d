package stream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// sseClient reads an SSE stream.
type sseClient struct {
	resp   *http.Response
	br     *bufio.Reader
	cancel context.CancelFunc // ends the request
}

// sseFrame is one dispatched block of the stream: a data line or a
// comment.
type sseFrame struct {
	Data    string
	Comment string
}

// openSSE opens an SSE stream to e. The request gets a generous timeout
// so that a broken test fails instead of hanging.
func (e *env) openSSE(tb testing.TB) *sseClient {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.ts.URL+"/v1/stream", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := e.client.Do(req)
	if err != nil {
		cancel()
		tb.Fatalf("open SSE: %v", err)
	}
	tb.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("status %d, want 200", resp.StatusCode)
	}
	return &sseClient{resp: resp, br: bufio.NewReader(resp.Body), cancel: cancel}
}

// next reads the next frame. Only data lines and comments are expected.
func (c *sseClient) next(tb testing.TB) (sseFrame, error) {
	tb.Helper()
	var f sseFrame
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return f, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if f != (sseFrame{}) {
				return f, nil
			}
		case strings.HasPrefix(line, ":"):
			f.Comment = strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "data: "):
			f.Data = strings.TrimPrefix(line, "data: ")
		default:
			tb.Fatalf("unexpected SSE line %q", line)
		}
	}
}

// nextData reads the next data frame, skipping keepalive comments.
func (c *sseClient) nextData(tb testing.TB) (string, error) {
	tb.Helper()
	for {
		f, err := c.next(tb)
		if err != nil || f.Data != "" {
			return f.Data, err
		}
	}
}

// readUntilEnd reads data frames until EOF, returning the sequences of the
// presence events and the last frame, which must not be one.
func (c *sseClient) readUntilEnd(tb testing.TB) ([]uint64, any) {
	tb.Helper()
	var seqs []uint64
	var last any
	for {
		data, err := c.nextData(tb)
		if errors.Is(err, io.EOF) {
			return seqs, last
		}
		if err != nil {
			tb.Fatalf("read SSE: %v", err)
		}
		if last != nil {
			tb.Fatalf("data %s after final notice %v", data, last)
		}
		ev, ok := decode(tb, data).(map[string]any)
		if ok && ev["type"] == "presence" {
			seqs = append(seqs, uint64(ev["sequence"].(float64)))
			continue
		}
		last = ev
	}
}

func TestSSEEvents(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.openSSE(t)
	l := e.hub.next(t)

	wantHeaders := map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-store",
		"X-Accel-Buffering": "no",
	}
	gotHeaders := map[string]string{}
	for k := range wantHeaders {
		gotHeaders[k] = c.resp.Header.Get(k)
	}
	if diff := cmp.Diff(wantHeaders, gotHeaders); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}

	evs, want := basicEvents()
	offer(t, l, evs...)
	var got, wantJSON []any
	for _, w := range want {
		wantJSON = append(wantJSON, decode(t, w))
		data, err := c.nextData(t)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, decode(t, data))
	}
	if diff := cmp.Diff(wantJSON, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// The counter moves just after the write the client has read.
	eventually(t, "events_sent_total to reach 3", func() bool {
		return testutil.ToFloat64(e.srv.metrics.sent[transportSSE]) == 3
	})
	if got := testutil.ToFloat64(e.srv.metrics.clients[transportSSE]); got != 1 {
		t.Errorf("sse clients gauge = %v, want 1", got)
	}
}

func TestSSEKeepalive(t *testing.T) {
	e := newEnv(t, Config{PingInterval: 20 * time.Millisecond})
	c := e.openSSE(t)
	e.hub.next(t)
	f, err := c.next(t)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sseFrame{Comment: "ping"}, f); diff != "" {
		t.Errorf("keepalive (-want +got):\n%s", diff)
	}
}

func TestSSEClientLeaves(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.openSSE(t)
	l := e.hub.next(t)
	c.cancel()
	e.waitIdle(t, 1)
	select {
	case <-l.Done():
	default:
		t.Error("listener not closed")
	}
}

func TestSSEShutdown(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.openSSE(t)
	e.hub.next(t)

	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(context.Background()) }()
	seqs, last := c.readUntilEnd(t)
	if len(seqs) != 0 {
		t.Errorf("unexpected events %v", seqs)
	}
	if diff := cmp.Diff(decode(t, `{"type":"goaway"}`), last); diff != "" {
		t.Errorf("final notice (-want +got):\n%s", diff)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	e.waitIdle(t, 1)
}

func TestSSESlowConsumer(t *testing.T) {
	e := newEnv(t, Config{QueueSize: 2, WriteTimeout: time.Minute})
	c := e.openSSE(t)
	l := e.hub.next(t)

	offerUntilDropped(t, l)
	seqs, last := c.readUntilEnd(t)
	checkPrefix(t, seqs)
	if diff := cmp.Diff(decode(t, `{"type":"dropped","reason":"slow consumer"}`), last); diff != "" {
		t.Errorf("final notice (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(e.srv.metrics.drops[dropSlowConsumer]); got != 1 {
		t.Errorf("drops{reason=slow_consumer} = %v, want 1", got)
	}
	e.waitIdle(t, 1)
}

func TestSSEWriteTimeout(t *testing.T) {
	e := newEnv(t, Config{QueueSize: 64, WriteTimeout: 100 * time.Millisecond})
	e.openSSE(t) // never reads
	l := e.hub.next(t)
	offerUntilClosed(t, l)
	if got := testutil.ToFloat64(e.srv.metrics.drops[dropWriteTimeout]); got != 1 {
		t.Errorf("drops{reason=write_timeout} = %v, want 1", got)
	}
	e.waitIdle(t, 1)
}

// TestSSEFraming checks the exact bytes, on a ResponseWriter without write
// deadlines.
func TestSSEFraming(t *testing.T) {
	hub := newFakeHub()
	srv := NewServer(Config{}, hub, testLogger(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := sseRequest().WithContext(ctx)
	rec := httptest.NewRecorder()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(rec, r, testUser) }()

	l := hub.next(t)
	evs, want := basicEvents()
	offer(t, l, evs...)
	eventually(t, "events to be written", func() bool {
		return testutil.ToFloat64(srv.metrics.sent[transportSSE]) == float64(len(evs))
	})
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	var wantBody strings.Builder
	for _, w := range want {
		wantBody.WriteString("data: " + w + "\n\n")
	}
	if diff := cmp.Diff(wantBody.String(), rec.Body.String()); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if got := hub.closes(); got != 1 {
		t.Errorf("%d listeners closed, want 1", got)
	}
}
