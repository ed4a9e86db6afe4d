package stream

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/internal/presence"
)

// readLimit bounds a client frame: clients send nothing but control frames
// (and perhaps their own pings).
const readLimit = 4 << 10

// serveWebSocket upgrades the connection and pumps l into it.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, user string, l *presence.Listener) error {
	u := s.upgrader
	status := 0
	// gorilla calls Error for a refused handshake, before anything is
	// written; recording the status instead of writing it leaves the
	// answer to the caller's error format.
	u.Error = func(_ http.ResponseWriter, _ *http.Request, st int, _ error) { status = st }
	conn, err := u.Upgrade(w, r, nil)
	if err != nil {
		if status != 0 {
			return &HandshakeError{Status: status, Err: err}
		}
		return fmt.Errorf("stream: websocket upgrade: %w", err)
	}

	c := &wsConn{conn: conn, timeout: s.cfg.WriteTimeout, readDone: make(chan struct{})}
	gauge := s.metrics.clients[transportWebSocket]
	gauge.Inc()
	defer gauge.Dec()

	conn.SetReadLimit(readLimit)
	pongWait := 2 * s.cfg.PingInterval
	if err := conn.SetReadDeadline(time.Now().Add(pongWait)); err != nil {
		conn.Close()
		return fmt.Errorf("stream: websocket read deadline: %w", err)
	}
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	conn.SetPingHandler(func(data string) error {
		// A client's own ping shows it alive as well as a pong does.
		if err := conn.SetReadDeadline(time.Now().Add(pongWait)); err != nil {
			return err
		}
		return c.pong(data)
	})
	go c.readLoop()

	e := s.pump(l, c, c.readDone)
	l.Close()
	c.finish()
	if e == endClientLeft && isTimeout(c.readErr) {
		e = endPongTimeout
		s.metrics.drops[dropPongTimeout].Inc()
	}
	s.log.Debug("stream ended", "transport", transportWebSocket, "user", user, "end", e, "read_error", c.readErr)
	return nil
}

// wsConn is the WebSocket transport of one stream. The pump goroutine is
// its only writer of data frames; the read loop writes only the control
// replies gorilla/websocket sends by itself (pongs, the close reply),
// which gorilla serializes with the pump's writes.
type wsConn struct {
	conn    *websocket.Conn
	timeout time.Duration

	readDone chan struct{} // closed when readLoop returns
	readErr  error         // why readLoop returned; read after readDone

	closeSent bool // farewell wrote a close frame; pump goroutine only
}

var _ transport = (*wsConn)(nil)

func (c *wsConn) name() string { return transportWebSocket }

// readLoop reads, and discards, client frames so that control frames are
// handled (pongs renew the read deadline; a close is answered), until the
// connection fails, the client closes, or pongs stop arriving.
func (c *wsConn) readLoop() {
	defer close(c.readDone)
	for {
		if _, _, err := c.conn.NextReader(); err != nil {
			c.readErr = err
			return
		}
	}
}

func (c *wsConn) writeEvent(json []byte) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return fmt.Errorf("set write deadline: %w", err)
	}
	return wsWriteErr(c.conn.WriteMessage(websocket.TextMessage, json))
}

func (c *wsConn) ping() error {
	return wsWriteErr(c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.timeout)))
}

// pong answers a client's ping from the read loop. Like gorilla's default
// handler it ignores a pong that cannot be sent in time or after the close
// frame: the pump notices a connection that really broke.
func (c *wsConn) pong(data string) error {
	err := c.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.timeout))
	if err == nil || errors.Is(err, websocket.ErrCloseSent) || isTimeout(err) {
		return nil
	}
	return err
}

// wsWriteErr maps gorilla's "close already sent" (the read loop answered
// the client's close) to errClientLeft.
func wsWriteErr(err error) error {
	if errors.Is(err, websocket.ErrCloseSent) {
		return errClientLeft
	}
	return err
}

// The close frames presenced sends (RFC 6455 §7.4.1).
var (
	closeGoingAway   = websocket.FormatCloseMessage(websocket.CloseGoingAway, "going away")
	closeSlowConsume = websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "slow consumer")
)

func (c *wsConn) farewell(n notice) {
	msg := closeGoingAway
	if n == noticeSlowConsumer {
		msg = closeSlowConsume
	}
	err := c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.timeout))
	c.closeSent = err == nil
}

// finish closes the connection and waits for the read loop. After a close
// frame it first gives the client up to the write timeout to answer, so
// the close handshake completes and the client reads every frame before
// the TCP connection goes.
func (c *wsConn) finish() {
	if c.closeSent {
		t := time.NewTimer(c.timeout)
		select {
		case <-c.readDone:
		case <-t.C:
		}
		t.Stop()
	}
	c.conn.Close()
	<-c.readDone
}
