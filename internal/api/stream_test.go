package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/internal/app/apptest"
	"github.com/presenced/presenced/internal/wire"
)

// event is a stream event.
type event struct {
	Type         string         `json:"type"`
	Subscription string         `json:"subscription"`
	Sequence     uint64         `json:"sequence"`
	Presence     *wire.Presence `json:"presence"`
}

// dial opens a WebSocket stream as token. The stream's listener is
// attached once Dial returns.
func dial(tb testing.TB, h *apptest.Harness, token string) *websocket.Conn {
	tb.Helper()
	url := "ws" + strings.TrimPrefix(h.ClientServer.URL, "http") + "/v1/stream"
	conn, resp, err := websocket.DefaultDialer.Dial(url, apptest.Bearer(token))
	if err != nil {
		tb.Fatalf("dial %s: %v", url, err)
	}
	resp.Body.Close()
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// readWS reads the next event of conn.
func readWS(tb testing.TB, conn *websocket.Conn) event {
	tb.Helper()
	// A safety deadline only: the event is normally already queued.
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		tb.Fatalf("read deadline: %v", err)
	}
	kind, msg, err := conn.ReadMessage()
	if err != nil {
		tb.Fatalf("read websocket: %v", err)
	}
	if kind != websocket.TextMessage {
		tb.Fatalf("websocket frame of type %d, want text", kind)
	}
	var ev event
	if err := json.Unmarshal(msg, &ev); err != nil {
		tb.Fatalf("decode %s: %v", msg, err)
	}
	return ev
}

// sseStream is an open SSE stream whose data lines a goroutine reads.
type sseStream struct {
	lines chan string
}

// openSSE opens an SSE stream as token. The stream's listener is attached
// once the response header has arrived.
func openSSE(tb testing.TB, h *apptest.Harness, token string) *sseStream {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", h.ClientServer.URL+"/v1/stream", nil)
	if err != nil {
		tb.Fatalf("new request: %v", err)
	}
	req.Header = apptest.Bearer(token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := h.ClientServer.Client().Do(req)
	if err != nil {
		cancel()
		tb.Fatalf("open SSE: %v", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		resp.Body.Close()
		tb.Fatalf("SSE answer %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{lines: make(chan string, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rd := bufio.NewReader(resp.Body)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			if data, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "data: "); ok {
				select {
				case s.lines <- data:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	tb.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return s
}

// next returns the next event of s.
func (s *sseStream) next(tb testing.TB) event {
	tb.Helper()
	select {
	case data := <-s.lines:
		var ev event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			tb.Fatalf("decode %s: %v", data, err)
		}
		return ev
	case <-time.After(10 * time.Second): // a safety deadline only
		tb.Fatal("timed out waiting for an SSE event")
		return event{}
	}
}

func TestChangeReachesChangesAndStreams(t *testing.T) {
	h := apptest.New(t)
	alice, bob := h.Token("alice@example.com"), h.Token("bob@example.com")
	sub := h.Subscribe(bob, map[string]any{"users": []string{"alice@example.com", "carol@example.com"}}, http.StatusCreated)
	n := h.Settled(bob, sub.ID).Sequence
	ws := dial(t, h, bob)
	sse := openSSE(t, h, bob)

	h.Clock.Advance(time.Minute)
	h.Publish(alice, map[string]any{"availability": "DoNotDisturb", "note": "focus"})
	dnd := wire.Presence{User: "alice@example.com", Availability: "DoNotDisturb", Code: 9000, Note: "focus", Since: apptest.At(apptest.T0.Add(time.Minute))}

	if diff := cmp.Diff(apptest.Changes{Sequence: n + 1, Presence: []wire.Presence{dnd}}, changesUntil(t, h, bob, sub.ID, n)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	want := event{Type: "presence", Subscription: sub.ID, Sequence: n + 1, Presence: &dnd}
	if diff := cmp.Diff(want, readWS(t, ws)); diff != "" {
		t.Errorf("websocket event (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, sse.next(t)); diff != "" {
		t.Errorf("SSE event (-want +got):\n%s", diff)
	}
}

func TestStreamRefusals(t *testing.T) {
	h := apptest.New(t)
	bob, admin := h.Token("bob@example.com"), h.AdminToken()
	tests := []struct {
		name   string
		hdr    http.Header
		status int
		code   string
	}{
		{"no token", http.Header{"Accept": {"text/event-stream"}}, http.StatusUnauthorized, "unauthorized"},
		{"admin token", http.Header{"Authorization": {"Bearer " + admin}, "Accept": {"text/event-stream"}}, http.StatusForbidden, "forbidden"},
		{"neither websocket nor SSE", apptest.Bearer(bob), http.StatusBadRequest, "invalid_request"},
		{"malformed websocket upgrade", http.Header{
			"Authorization": {"Bearer " + bob}, "Connection": {"Upgrade"}, "Upgrade": {"websocket"},
		}, http.StatusBadRequest, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			apptest.WantProblem(t, h.Send("GET", "/v1/stream", tt.hdr, nil), tt.status, tt.code)
		})
	}
	t.Run("websocket without token", func(t *testing.T) {
		url := "ws" + strings.TrimPrefix(h.ClientServer.URL, "http") + "/v1/stream"
		conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
		if err == nil {
			conn.Close()
			t.Fatal("dial without a token succeeded")
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", resp.StatusCode)
		}
	})
}
