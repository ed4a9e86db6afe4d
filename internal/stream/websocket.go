package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/internal/presence"
)

// readLimit bounds a client frame: clients send nothing but control frames
// (and perhaps their own pings).
const readLimit = 4 << 10

// A WebSocket stream holds as little as possible while idle: after the
// handshake the HTTP handler returns (releasing net/http's per-request
// state), one goroutine blocks reading the connection, pings run on a
// timer, and a writer goroutine exists only while events are being
// written: the listener's notify hook starts one when its queue turns
// non-empty.

// startWebSocket upgrades the connection and starts its session. It
// returns once the session runs; the session ends by itself and calls done.
func (s *Server) startWebSocket(w http.ResponseWriter, r *http.Request, user string, l *presence.Listener, done func()) error {
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
	ws := &wsSession{s: s, conn: conn, l: l, user: user, done: done, pongWait: 2 * s.cfg.PingInterval}
	if err := ws.start(); err != nil {
		conn.Close()
		return err
	}
	return nil
}

// wsSession is one WebSocket stream.
//
// Writers: data frames come only from the writer goroutine, of which at
// most one runs (writing); pings and close frames use gorilla's
// WriteControl, which may run concurrently with it.
type wsSession struct {
	s        *Server
	conn     *websocket.Conn
	l        *presence.Listener
	user     string
	done     func()
	pongWait time.Duration

	writing atomic.Bool    // a writer goroutine runs
	writers sync.WaitGroup // writer goroutines
	mu      sync.Mutex     // orders writer starts before the end's Wait
	ended   bool           // guarded by mu: no more writers may start
	batch   []presence.Event
	// dlMu orders changes of the connection's write deadline: the
	// writer's and those of control frames (gorilla's WriteControl sets
	// the deadline it is given), so deadline is always the one in force.
	dlMu     sync.Mutex
	deadline time.Time     // guarded by dlMu
	held     atomic.Bool   // queued in the server's due list (WriteDelay)
	closing  atomic.Bool   // a close frame was sent
	reason   atomic.Uint32 // the end presenced decided on; 0 while none
}

func (ws *wsSession) start() error {
	c := ws.conn
	c.SetReadLimit(readLimit)
	if err := c.SetReadDeadline(time.Now().Add(ws.pongWait)); err != nil {
		return fmt.Errorf("stream: websocket read deadline: %w", err)
	}
	c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(ws.pongWait)) })
	c.SetPingHandler(func(data string) error {
		// A client's own ping shows it alive as well as a pong does.
		if err := c.SetReadDeadline(time.Now().Add(ws.pongWait)); err != nil {
			return err
		}
		err := ws.writeControl(websocket.PongMessage, []byte(data), ws.s.cfg.WriteTimeout)
		if err == nil || errors.Is(err, websocket.ErrCloseSent) || isTimeout(err) {
			return nil // like gorilla's default: a broken connection shows elsewhere
		}
		return err
	})
	ws.s.metrics.clients[transportWebSocket].Inc()
	ws.s.register(ws)
	ws.l.SetNotify(ws.notify)
	go ws.readLoop()
	ws.kick() // events queued before the notify hook was set
	return nil
}

// notify is the listener's notify hook: it starts the writer at once,
// or, with a write delay, holds the session for the server's next write
// tick. A running writer takes the new events itself either way. It must
// not block.
func (ws *wsSession) notify() {
	if ws.s.cfg.WriteDelay <= 0 || ws.writing.Load() {
		ws.kick()
		return
	}
	if ws.held.CompareAndSwap(false, true) {
		ws.s.hold(ws)
	}
}

// kick starts the writer unless one runs. It must not block.
func (ws *wsSession) kick() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if !ws.ended && ws.writing.CompareAndSwap(false, true) {
		ws.writers.Add(1)
		go ws.write()
	}
}

// write drains the listener into the connection until the queue is empty,
// then exits; a dropped or closed listener ends the stream.
func (ws *wsSession) write() {
	defer ws.writers.Done()
	sent := ws.s.metrics.sent[transportWebSocket]
	for {
		select {
		case <-ws.l.Done():
			ws.listenerDone()
			ws.writing.Store(false)
			return
		default:
		}
		ws.batch = ws.l.Drain(ws.batch[:0])
		if len(ws.batch) == 0 {
			ws.writing.Store(false)
			// An event offered after the Drain but before the Store
			// found writing set and did not start a writer: look again.
			if ws.l.Len() == 0 && !ws.listenerClosed() || !ws.writing.CompareAndSwap(false, true) {
				return
			}
			continue // the CAS made this goroutine the writer again
		}
		n, err := ws.writeBatch(ws.batch)
		sent.Add(float64(n))
		if err != nil {
			ws.writeFailed(err)
			clear(ws.batch)
			ws.writing.Store(false)
			return
		}
		clear(ws.batch) // do not pin the changes until the next batch
	}
}

func (ws *wsSession) listenerClosed() bool {
	select {
	case <-ws.l.Done():
		return true
	default:
		return false
	}
}

// listenerDone ends a stream whose listener the hub dropped or closed.
func (ws *wsSession) listenerDone() {
	if ws.l.Overflowed() {
		ws.drop(endSlowConsumer, dropSlowConsumer)
		ws.goAway(closeSlowConsume)
		return
	}
	ws.endAs(endHubClosed)
	ws.goAway(closeGoingAway)
}

// endAs records why presenced ends the stream, reporting whether it was
// the first reason given.
func (ws *wsSession) endAs(e end) bool { return ws.reason.CompareAndSwap(0, uint32(e)) }

// drop records a drop (an end presenced forces on a client) and counts it
// once.
func (ws *wsSession) drop(e end, reason string) {
	if ws.endAs(e) {
		ws.s.metrics.drops[reason].Inc()
	}
}

// writeFailed ends the stream after a failed data write.
func (ws *wsSession) writeFailed(err error) {
	switch {
	case errors.Is(err, websocket.ErrCloseSent):
		// The read loop answered the client's close: the client left.
	case isTimeout(err):
		ws.drop(endWriteTimeout, dropWriteTimeout)
	case !ws.closing.Load():
		ws.drop(endWriteError, dropWriteError)
	}
	ws.conn.Close() // the read loop ends and cleans up
}

// goAway sends a close frame and gives the client the write timeout to
// answer it; the read loop then ends and cleans up.
func (ws *wsSession) goAway(msg []byte) {
	if ws.closing.Swap(true) {
		return
	}
	if err := ws.writeControl(websocket.CloseMessage, msg, ws.s.cfg.WriteTimeout); err != nil {
		ws.conn.Close()
		return
	}
	_ = ws.conn.SetReadDeadline(time.Now().Add(ws.s.cfg.WriteTimeout))
}

// pingWriteTimeout bounds writing a ping to an idle connection: its
// socket buffer is empty unless the client stopped reading, so a ping that
// cannot be written at once means a client too far behind to keep.
const pingWriteTimeout = 250 * time.Millisecond

// ping sends a ping frame within timeout (at most the write timeout).
func (ws *wsSession) ping(timeout time.Duration) {
	err := ws.writeControl(websocket.PingMessage, nil, min(timeout, ws.s.cfg.WriteTimeout))
	switch {
	case err == nil, errors.Is(err, websocket.ErrCloseSent):
	case isTimeout(err):
		ws.drop(endWriteTimeout, dropWriteTimeout)
		ws.conn.Close()
	default:
		ws.conn.Close()
	}
}

// pingAside pings from a goroutine of its own, counted with the writers
// so the session's end waits for it.
func (ws *wsSession) pingAside() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.ended {
		return
	}
	ws.writers.Add(1)
	go func() {
		defer ws.writers.Done()
		ws.ping(ws.s.cfg.WriteTimeout)
	}()
}

// readLoop reads, and discards, client frames so that control frames are
// handled (pongs renew the read deadline; a close is answered), until the
// connection fails, the client closes, or pongs stop arriving. It owns
// the session's end.
func (ws *wsSession) readLoop() {
	var err error
	for {
		if _, _, err = ws.conn.NextReader(); err != nil {
			break
		}
	}
	ws.mu.Lock()
	ws.ended = true // before Close, whose notify must start no writer
	ws.mu.Unlock()
	ws.l.Close()
	ws.conn.Close()
	ws.writers.Wait()
	if isTimeout(err) {
		ws.drop(endPongTimeout, dropPongTimeout) // unless presenced had ended it
	}
	ws.endAs(endClientLeft)
	e := end(ws.reason.Load())
	ws.s.metrics.clients[transportWebSocket].Dec()
	ws.s.unregister(ws)
	ws.s.log.Debug("stream ended", "transport", transportWebSocket, "end", e, "read_error", err)
	ws.done()
}

// maxWrite bounds the bytes of frames gathered into one write.
const maxWrite = 64 << 10

// writeBatch writes the events as consecutive text frames, gathering as
// many as fit in maxWrite into each write to the socket: under load, when
// events queue up, one system call carries many of them. It returns the
// number of events written.
//
// The frames are built here rather than by gorilla/websocket, which makes
// one write per message. That is safe alongside gorilla's own control
// frames (pings, pongs, close): each is a single Write on the connection,
// and net.Conn does not interleave concurrent Writes.
func (ws *wsSession) writeBatch(batch []presence.Event) (int, error) {
	if ws.closing.Load() {
		return 0, websocket.ErrCloseSent
	}
	out := bufPool.Get().(*[]byte)
	scratch := bufPool.Get().(*[]byte)
	defer func() {
		putBuf(out)
		putBuf(scratch)
	}()
	nc := ws.conn.NetConn()
	written, pending := 0, 0
	flush := func() error {
		if len(*out) == 0 {
			return nil
		}
		if err := ws.extendWriteDeadline(nc); err != nil {
			return err
		}
		if _, err := nc.Write(*out); err != nil {
			return err
		}
		ws.s.metrics.writes[transportWebSocket].Inc()
		*out = (*out)[:0]
		written += pending
		pending = 0
		return nil
	}
	for _, ev := range batch {
		js, ok := appendEvent((*scratch)[:0], ev)
		*scratch = js
		if !ok {
			continue
		}
		if len(*out) > 0 && len(*out)+len(js)+10 > maxWrite {
			if err := flush(); err != nil {
				return written, err
			}
		}
		*out = appendTextFrame(*out, js)
		pending++
	}
	return written, flush()
}

// writeControl writes a control frame within timeout, recording the
// write deadline that WriteControl leaves on the connection.
func (ws *wsSession) writeControl(typ int, data []byte, timeout time.Duration) error {
	ws.dlMu.Lock()
	defer ws.dlMu.Unlock()
	ws.deadline = time.Now().Add(timeout)
	return ws.conn.WriteControl(typ, data, ws.deadline)
}

// extendWriteDeadline makes sure the next write has at least half the
// write timeout to complete. Moving the deadline costs a trip into the
// runtime's poller, so it is moved only when half of it has passed: a
// write then gets between half and all of the write timeout.
func (ws *wsSession) extendWriteDeadline(nc net.Conn) error {
	ws.dlMu.Lock()
	defer ws.dlMu.Unlock()
	now := time.Now()
	if ws.deadline.Sub(now) > ws.s.cfg.WriteTimeout/2 {
		return nil
	}
	ws.deadline = now.Add(ws.s.cfg.WriteTimeout)
	if err := nc.SetWriteDeadline(ws.deadline); err != nil {
		return fmt.Errorf("set write deadline: %w", err)
	}
	return nil
}

// appendTextFrame appends payload as one unmasked, final text frame
// (RFC 6455 §5.2; servers do not mask).
func appendTextFrame(b, payload []byte) []byte {
	const finText = 0x80 | websocket.TextMessage
	switch n := len(payload); {
	case n < 126:
		b = append(b, finText, byte(n))
	case n <= 0xffff:
		b = append(b, finText, 126, byte(n>>8), byte(n))
	default:
		b = append(b, finText, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// The close frames presenced sends (RFC 6455 §7.4.1).
var (
	closeGoingAway   = websocket.FormatCloseMessage(websocket.CloseGoingAway, "going away")
	closeSlowConsume = websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "slow consumer")
)
