package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// eventKind is what a stream event means to the tool.
type eventKind int

const (
	eventPresence eventKind = iota // a presence event (ours or not)
	eventOther                     // an event type the tool ignores
	eventGoAway                    // SSE: the server shuts down
	eventDropped                   // SSE: the server dropped the slow stream
	eventBad                       // not a JSON event
)

// sink receives every watcher's events: it recognises the publishes of
// this run by the note "<run>:<unix nanos>" and records deliveries and
// publish-to-receipt latency for publishes of the measured window.
type sink struct {
	rec    *recorder
	run    string // this run's note prefix, "<run>:"
	marker []byte // `"note":"<run>:`
	start  atomic.Int64
}

func newSink(rec *recorder, run string) *sink {
	return &sink{rec: rec, run: run + ":", marker: []byte(`"note":"` + run + ":")}
}

// open starts counting: publishes noted at or after t are measured.
func (s *sink) open(t time.Time) { s.start.Store(t.UnixNano()) }

// measured reports whether a publish noted at unix nanos t counts.
func (s *sink) measured(t int64) bool {
	st := s.start.Load()
	return st != 0 && t >= st
}

// note is the note of a publish at unix nanos t.
func (s *sink) note(t int64) []byte { return strconv.AppendInt([]byte(s.run), t, 10) }

var presencePrefix = []byte(`{"type":"presence",`)

// event handles one event received at unix nanos now.
//
// The fast path scans presenced's own field order
// ({"type":"presence",...,"note":"..."}) without decoding; any other
// shape is decoded with encoding/json into a small struct.
func (s *sink) event(frame []byte, now int64) eventKind {
	if bytes.HasPrefix(frame, presencePrefix) {
		if i := bytes.Index(frame, s.marker); i >= 0 {
			s.deliver(frame[i+len(s.marker):], now)
		}
		return eventPresence
	}
	var ev struct {
		Type     string `json:"type"`
		Presence struct {
			Note string `json:"note"`
		} `json:"presence"`
	}
	if err := json.Unmarshal(frame, &ev); err != nil {
		return eventBad
	}
	switch ev.Type {
	case "presence":
		if len(ev.Presence.Note) > len(s.run) && ev.Presence.Note[:len(s.run)] == s.run {
			s.deliver([]byte(ev.Presence.Note[len(s.run):]+`"`), now)
		}
		return eventPresence
	case "goaway":
		return eventGoAway
	case "dropped":
		return eventDropped
	}
	return eventOther
}

// deliver records the delivery of the publish whose nanos start rest
// (terminated by a quote).
func (s *sink) deliver(rest []byte, now int64) {
	end := bytes.IndexByte(rest, '"')
	if end <= 0 {
		return
	}
	t, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	if err != nil || !s.measured(t) {
		return
	}
	s.rec.deliveries.Add(1)
	s.rec.deliveryLatency.Record(time.Duration(now - t))
}

// streams are the open watcher streams of a fanout run; their readers
// run until stop.
type streams struct {
	stopping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	closers  []func() // guarded by mu
}

func (ss *streams) add(close func()) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.closers = append(ss.closers, close)
}

// stop closes every stream and waits for the readers.
func (ss *streams) stop() {
	ss.stopping.Store(true)
	ss.mu.Lock()
	closers := ss.closers
	ss.closers = nil
	ss.mu.Unlock()
	for _, c := range closers {
		c()
	}
	ss.wg.Wait()
}

// ended counts a stream that ended before stop as an error of class.
func (r *runner) streamEnded(ss *streams, class string) {
	if !ss.stopping.Load() {
		r.rec.failClass(class)
		r.warn("a stream ended during the run (%s): its watcher's events count as lost", class)
	}
}

// connectWebSocket opens watcher token's WebSocket stream and starts its
// reader, which runs until ss.stop.
func (r *runner) connectWebSocket(ctx context.Context, ss *streams, token string, s *sink) error {
	conn, err := r.c.dialStream(ctx, r.c.ws, token)
	if err != nil {
		return err
	}
	conn.SetReadLimit(1 << 20)
	ss.add(func() {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = conn.Close()
	})
	ss.wg.Go(func() { r.readWebSocket(ss, conn, s) })
	return nil
}

// readWebSocket reads frames into one reused buffer until the connection
// ends. gorilla/websocket answers pings from this loop.
func (r *runner) readWebSocket(ss *streams, conn *websocket.Conn, s *sink) {
	buf := make([]byte, 0, 512)
	for {
		_, rd, err := conn.NextReader()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				r.streamEnded(ss, "ws_close_"+strconv.Itoa(ce.Code))
			} else {
				r.streamEnded(ss, transportClass(err))
			}
			return
		}
		buf, err = readAll(buf[:0], rd)
		if err != nil {
			r.streamEnded(ss, transportClass(err))
			return
		}
		if s.event(buf, time.Now().UnixNano()) == eventBad {
			r.rec.failClass("bad_event")
		}
	}
}

// readAll appends rd's bytes to b, growing it as needed.
func readAll(b []byte, rd io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// connectSSE opens watcher token's SSE stream and starts its reader,
// which runs until ss.stop.
func (r *runner) connectSSE(ctx, streamCtx context.Context, ss *streams, token string, s *sink) error {
	sctx, cancel := context.WithCancel(streamCtx)
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, r.c.target+"/v1/stream", nil)
	if err != nil {
		cancel()
		return fmt.Errorf("sse: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	// The connect phase is bounded by ctx; the stream by sctx only.
	stopAfter := context.AfterFunc(ctx, cancel)
	resp, err := r.c.streams.Do(req)
	connected := stopAfter()
	if err != nil || !connected {
		cancel()
		if err == nil {
			resp.Body.Close()
			err = ctx.Err()
		}
		return fmt.Errorf("sse: %w", &callError{Class: transportClass(err), Err: err})
	}
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		cancel()
		return fmt.Errorf("sse: %w", answerError(resp, raw))
	}
	ss.add(cancel)
	ss.wg.Go(func() {
		defer resp.Body.Close()
		r.readSSE(ss, resp.Body, s)
	})
	return nil
}

// readSSE reads `data:` lines until the stream ends.
func (r *runner) readSSE(ss *streams, body io.Reader, s *sink) {
	br := bufio.NewReaderSize(body, streamReadBuffer)
	var long []byte // a line longer than the buffer
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			continue
		}
		if err != nil {
			r.streamEnded(ss, transportClass(err))
			return
		}
		if long != nil {
			line = append(long, line...)
			long = nil
		}
		data, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			continue // blank line, comment (": ping") or a field the tool ignores
		}
		data = bytes.TrimSpace(data)
		switch s.event(data, time.Now().UnixNano()) {
		case eventGoAway:
			r.streamEnded(ss, "sse_goaway")
			return
		case eventDropped:
			r.streamEnded(ss, "sse_dropped")
			return
		case eventBad:
			r.rec.failClass("bad_event")
		}
	}
}
