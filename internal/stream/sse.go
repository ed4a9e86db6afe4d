package stream

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/presenced/presenced/internal/presence"
)

// serveSSE answers with a text/event-stream and pumps l into it until the
// request's context ends.
func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request, user string, l *presence.Listener) error {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// Ask reverse proxies such as nginx not to buffer the stream.
	h.Set("X-Accel-Buffering", "no")

	c := &sseConn{w: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteTimeout, deadlines: true}
	gauge := s.metrics.clients[transportSSE]
	gauge.Inc()
	defer gauge.Dec()

	left := r.Context().Done()
	var e end
	if err := c.open(); err != nil {
		e = s.writeFailed(err, left)
	} else {
		e = s.pump(l, c, left)
	}
	s.log.Debug("stream ended", "transport", transportSSE, "user", user, "end", e)
	return nil
}

// sseConn is the SSE transport of one stream. Only the pump goroutine
// uses it.
type sseConn struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	timeout   time.Duration
	deadlines bool // the ResponseWriter supports write deadlines
}

// The fixed parts of the stream (the event JSON never holds a newline, so
// each event is one data line).
var (
	sseDataPrefix = []byte("data: ")
	sseEventEnd   = []byte("\n\n")
	ssePing       = []byte(": ping\n\n")
	sseGoAway     = []byte("data: {\"type\":\"goaway\"}\n\n")
	sseDropped    = []byte("data: {\"type\":\"dropped\",\"reason\":\"slow consumer\"}\n\n")
)

// open sends the response header at once, so the client sees the stream
// open before the first event.
func (c *sseConn) open() error {
	c.setDeadline()
	c.w.WriteHeader(http.StatusOK)
	if err := c.rc.Flush(); err != nil {
		return fmt.Errorf("flush header: %w", err)
	}
	return nil
}

// writeEvent writes one event into the response's buffer; flush sends
// what a batch wrote, so queued events share one write.
func (c *sseConn) writeEvent(json []byte) error {
	c.setDeadline()
	for _, b := range [][]byte{sseDataPrefix, json, sseEventEnd} {
		if _, err := c.w.Write(b); err != nil {
			return fmt.Errorf("write event: %w", err)
		}
	}
	return nil
}

func (c *sseConn) flush() error {
	if err := c.rc.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

func (c *sseConn) ping() error {
	c.setDeadline()
	return c.writeFlush(ssePing)
}

func (c *sseConn) farewell(n notice) {
	msg := sseGoAway
	if n == noticeSlowConsumer {
		msg = sseDropped
	}
	c.setDeadline()
	_ = c.writeFlush(msg) // best effort: the stream ends either way
}

func (c *sseConn) writeFlush(b []byte) error {
	if _, err := c.w.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := c.rc.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// setDeadline bounds the next write by the write timeout, which also lifts
// any http.Server WriteTimeout that would otherwise cut a long stream.
func (c *sseConn) setDeadline() {
	if !c.deadlines {
		return
	}
	if err := c.rc.SetWriteDeadline(time.Now().Add(c.timeout)); errors.Is(err, http.ErrNotSupported) {
		c.deadlines = false
	}
}
