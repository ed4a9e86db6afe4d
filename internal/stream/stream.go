// Package stream serves GET /v1/stream (API.md §3 "Stream events"): one
// long-lived WebSocket or Server-Sent Events connection per app, carrying
// the events of the user's subscriptions as JSON.
//
// Each connection drains one bounded presence.Listener. The hub never waits
// for a connection: when a listener's queue is full the hub drops it and
// the stream ends with a "slow consumer" notice, so one slow client never
// delays another; the app reconnects and catches up with "changes since".
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/presence"
)

// Hub is what the stream needs from the presence core.
type Hub interface {
	// Listen attaches a new listener for user's events with a queue of
	// queueSize events. It must not block. The stream Closes the listener
	// when the connection ends.
	Listen(user string, queueSize int) *presence.Listener
}

// Config tunes the streams of a Server. Zero (or negative) fields take the
// defaults stated beside them.
type Config struct {
	QueueSize    int           // per-connection queue in events; default 256
	PingInterval time.Duration // WebSocket ping / SSE keepalive comment; default 30s
	// WriteTimeout bounds each write: a client that cannot take a frame in
	// time is disconnected. Default 10s.
	WriteTimeout time.Duration
	// WriteDelay, when positive, holds a WebSocket connection's first
	// event for up to this long (until the next tick of a server-wide
	// ticker of this period) before writing, so that events arriving
	// close together leave in one write: one system call and one TCP
	// segment instead of one per event. It trades latency for
	// throughput; default 0, every event written at once.
	WriteDelay time.Duration
	// Clock drives the write-delay ticks; default the real clock.
	Clock clock.Clock
}

// The defaults of Config.
const (
	DefaultQueueSize    = 256
	DefaultPingInterval = 30 * time.Second
	DefaultWriteTimeout = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.WriteDelay < 0 {
		c.WriteDelay = 0
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	return c
}

// ErrNotStream is returned by Serve, which has written nothing, for a
// request that asks for neither transport.
var ErrNotStream = errors.New("stream: request is neither a WebSocket upgrade nor Accept: text/event-stream")

// ErrClosed is wrapped by the error Serve returns, having written nothing,
// once Shutdown has been called.
var ErrClosed = errors.New("stream: server closed")

// HandshakeError is returned by Serve, which has written nothing, when a
// WebSocket upgrade request is malformed. Status is the HTTP status to
// answer with (400, 403, 405, ...).
type HandshakeError struct {
	Status int
	Err    error
}

// Error describes the refused handshake.
func (e *HandshakeError) Error() string { return "stream: websocket handshake: " + e.Err.Error() }

// Unwrap returns the underlying gorilla/websocket error.
func (e *HandshakeError) Unwrap() error { return e.Err }

// Server runs the streams of one listener. Its methods are safe for
// concurrent use.
type Server struct {
	cfg      Config
	hub      Hub
	log      *slog.Logger
	metrics  *metrics
	upgrader websocket.Upgrader

	goaway chan struct{} // closed by the first Shutdown

	mu       sync.Mutex // guards closed, active, idle and sessions
	closed   bool
	active   int           // open streams
	idle     chan struct{} // closed when closed && active == 0
	sessions map[*wsSession]struct{}
	pingStop chan struct{} // non-nil while pingLoop runs; closed to stop it

	dueMu sync.Mutex   // guards due
	due   []*wsSession // sessions with events held for the next write tick
}

// writeBufferPool lends gorilla/websocket its frame buffers only while a
// frame is written, so an idle connection holds no write buffer. It is
// shared by every Server.
var writeBufferPool = &sync.Pool{}

// NewServer returns a Server delivering hub's events. logger (which the
// caller labels with its component) and reg may be nil: no logs; a private
// registry.
func NewServer(cfg Config, hub Hub, logger *slog.Logger, reg prometheus.Registerer) *Server {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &Server{
		cfg:     cfg,
		hub:     hub,
		log:     logger,
		metrics: newMetrics(reg),
		upgrader: websocket.Upgrader{
			HandshakeTimeout: cfg.WriteTimeout,
			// Clients send only control frames, so a small read buffer
			// suffices; writes borrow pooled buffers.
			ReadBufferSize:  256,
			WriteBufferSize: 1024,
			WriteBufferPool: writeBufferPool,
			// Apps are not browsers carrying ambient cookies: the caller
			// authenticated a bearer token, so any Origin is fine.
			CheckOrigin: func(*http.Request) bool { return true },
		},
		goaway:   make(chan struct{}),
		idle:     make(chan struct{}),
		sessions: make(map[*wsSession]struct{}),
	}
}

// Serve runs one stream for an already authenticated user until the client
// leaves, the listener is dropped, or Shutdown. A WebSocket upgrade is
// served as a WebSocket, otherwise an Accept of text/event-stream as SSE.
//
// The listener is attached before the client sees the stream open, so
// every event after that is delivered or the stream ends.
//
// Serve returns, having written nothing, ErrNotStream for a request that
// is not a stream request, an error wrapping ErrClosed after Shutdown, and
// a *HandshakeError for a malformed upgrade, so the caller can answer with
// its own error format. Once a stream has started it returns nil however
// the stream ended (each end is logged and counted); any other error means
// the connection was taken over and nothing more can be written to w.
//
// An SSE stream is served inside Serve. A WebSocket stream outlives it:
// Serve returns after the handshake, and the stream runs on with one
// reading goroutine (and a writer only while there is something to
// write), so an idle WebSocket costs a few kilobytes. Shutdown waits for
// both kinds.
func (s *Server) Serve(w http.ResponseWriter, r *http.Request, user string) error {
	ws := websocket.IsWebSocketUpgrade(r)
	if !ws && !acceptsEventStream(r) {
		return ErrNotStream
	}
	if err := s.acquire(); err != nil {
		return err
	}
	l := s.hub.Listen(user, s.cfg.QueueSize)
	if ws {
		err := s.startWebSocket(w, r, user, l, s.release)
		if err != nil {
			l.Close()
			s.release()
		}
		return err
	}
	defer s.release()
	defer l.Close()
	return s.serveSSE(w, r, user, l)
}

// acceptsEventStream reports whether r's Accept header lists
// text/event-stream.
func acceptsEventStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mediaType, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mediaType), "text/event-stream") {
				return true
			}
		}
	}
	return false
}

// Shutdown tells every open stream to go away (WebSocket close 1001 "going
// away"; SSE a final {"type":"goaway"} event) and waits for them to finish,
// or until ctx is done. After Shutdown, Serve refuses new streams. It is
// safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	var sessions []*wsSession
	if !s.closed {
		s.closed = true
		close(s.goaway)
		if s.active == 0 {
			close(s.idle)
		}
		for ws := range s.sessions {
			sessions = append(sessions, ws)
		}
	}
	s.mu.Unlock()
	for _, ws := range sessions {
		ws.endAs(endShutdown)
		ws.goAway(closeGoingAway)
	}

	select {
	case <-s.idle:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-s.idle: // finished just in time
		return nil
	default:
		return fmt.Errorf("stream: shutdown with %d streams open: %w", s.Clients(), ctx.Err())
	}
}

// Clients returns the number of open streams, counting those still
// completing their handshake.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// register records a running WebSocket session, telling it to go away
// at once when Shutdown has begun. The first session starts pingLoop.
func (s *Server) register(ws *wsSession) {
	s.mu.Lock()
	s.sessions[ws] = struct{}{}
	closed := s.closed
	if s.pingStop == nil {
		s.pingStop = make(chan struct{})
		go s.pingLoop(s.pingStop)
		if s.cfg.WriteDelay > 0 {
			go s.flushLoop(s.pingStop)
		}
	}
	s.mu.Unlock()
	if closed {
		ws.endAs(endShutdown)
		ws.goAway(closeGoingAway)
	}
}

// unregister forgets an ended session; the last one stops pingLoop and
// flushLoop, and the ended sessions still held are let go.
func (s *Server) unregister(ws *wsSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, ws)
	if len(s.sessions) == 0 && s.pingStop != nil {
		close(s.pingStop)
		s.pingStop = nil
		s.dueMu.Lock()
		clear(s.due)
		s.due = s.due[:0]
		s.dueMu.Unlock()
	}
}

// pingLoop pings every idle WebSocket session each PingInterval, from one
// goroutine for all of them (a timer per connection would start a
// goroutine per ping).
func (s *Server) pingLoop(stop <-chan struct{}) {
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	var batch []*wsSession
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		for ws := range s.sessions {
			batch = append(batch, ws)
		}
		s.mu.Unlock()
		for _, ws := range batch {
			switch {
			case ws.closing.Load():
			case ws.writing.Load():
				// Its writer may hold the connection for a while: ping
				// beside it rather than stall the loop.
				ws.pingAside()
			default:
				ws.ping(pingWriteTimeout)
			}
		}
		clear(batch)
		batch = batch[:0]
	}
}

// hold queues ws, whose listener has events, for the next write tick.
func (s *Server) hold(ws *wsSession) {
	s.dueMu.Lock()
	s.due = append(s.due, ws)
	s.dueMu.Unlock()
}

// flushLoop starts, every WriteDelay, the writers of the sessions whose
// events were held since the last tick: each writes everything queued by
// then in one gathered write. Like pingLoop it runs while any WebSocket
// session does.
func (s *Server) flushLoop(stop <-chan struct{}) {
	ticks, stopTicks := clock.Ticker(s.cfg.Clock, s.cfg.WriteDelay)
	defer stopTicks()
	var batch []*wsSession
	for {
		select {
		case <-stop:
			return
		case <-ticks:
		}
		s.dueMu.Lock()
		batch, s.due = s.due, batch
		s.dueMu.Unlock()
		for _, ws := range batch {
			ws.held.Store(false)
			ws.kick()
		}
		clear(batch)
		batch = batch[:0]
	}
}

// acquire counts a new stream in, unless the server is closed.
func (s *Server) acquire() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("stream: refusing new stream: %w", ErrClosed)
	}
	s.active++
	return nil
}

// release counts a finished stream out and wakes Shutdown after the last.
func (s *Server) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	// After closed, active only falls, so it reaches zero here at most
	// once, and only if it was not already zero when Shutdown closed idle.
	if s.closed && s.active == 0 {
		close(s.idle)
	}
}
