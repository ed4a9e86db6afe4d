package stream

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/presence"
	"github.com/presenced/presenced/internal/wire"
)

// notice is why presenced ends a stream, told to the client.
type notice uint8

const (
	noticeGoAway       notice = iota + 1 // shutdown, or the hub closed the listener
	noticeSlowConsumer                   // the listener's queue overflowed
)

// end is how a stream ended.
type end uint8

const (
	endClientLeft end = iota + 1
	endShutdown
	endHubClosed
	endSlowConsumer
	endWriteTimeout
	endWriteError
	endPongTimeout
)

var endNames = [...]string{
	endClientLeft:   "client left",
	endShutdown:     "shutdown",
	endHubClosed:    "listener closed by hub",
	endSlowConsumer: "slow consumer",
	endWriteTimeout: "write timeout",
	endWriteError:   "write error",
	endPongTimeout:  "pong timeout",
}

func (e end) String() string { return endNames[e] }

// pump copies l's events to the SSE stream t until the client leaves (left
// closes), the listener is closed or dropped, a write fails, or the server
// shuts down. It writes the farewell notice when presenced ends the
// stream, and counts events and drops; the caller closes l and the
// connection. (WebSocket sessions need no goroutine of their own while
// idle, so they are not pumped: see websocket.go.)
func (s *Server) pump(l *presence.Listener, t *sseConn, left <-chan struct{}) end {
	ticker := time.NewTicker(s.cfg.PingInterval)
	defer ticker.Stop()
	sent, writes := s.metrics.sent[transportSSE], s.metrics.writes[transportSSE]
	var batch []presence.Event
	for {
		// A dropped listener ends the stream at once: the events still
		// queued are stale, and the app will catch up after reconnecting.
		select {
		case <-l.Done():
			return s.listenerDone(l, t)
		default:
		}
		select {
		case <-left:
			return endClientLeft
		case <-s.goaway:
			t.farewell(noticeGoAway)
			return endShutdown
		case <-l.Done():
			return s.listenerDone(l, t)
		case <-ticker.C:
			if err := t.ping(); err != nil {
				return s.writeFailed(err, left)
			}
		case <-l.Ready():
			batch = l.Drain(batch[:0])
			for _, ev := range batch {
				wrote, err := s.send(t, ev)
				if err != nil {
					return s.writeFailed(err, left)
				}
				if wrote {
					sent.Inc()
				}
			}
			clear(batch) // do not pin the changes until the next batch
			if err := t.flush(); err != nil {
				return s.writeFailed(err, left)
			}
			writes.Inc()
		}
	}
}

// listenerDone ends a stream whose listener the hub closed or dropped.
func (s *Server) listenerDone(l *presence.Listener, t *sseConn) end {
	if l.Overflowed() {
		s.metrics.drops[dropSlowConsumer].Inc()
		t.farewell(noticeSlowConsumer)
		return endSlowConsumer
	}
	t.farewell(noticeGoAway)
	return endHubClosed
}

// writeFailed classifies a failed write, counting it as a drop unless the
// client had already left. A timeout is a drop even when left has closed
// since: net/http cancels the request context because of the failed write.
func (s *Server) writeFailed(err error, left <-chan struct{}) end {
	if isTimeout(err) {
		s.metrics.drops[dropWriteTimeout].Inc()
		return endWriteTimeout
	}
	select {
	case <-left:
		return endClientLeft
	default:
		s.metrics.drops[dropWriteError].Inc()
		return endWriteError
	}
}

// isTimeout reports whether err is a deadline expiring.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// maxPooledBuf caps the buffers kept in bufPool, so that one huge event
// does not pin its buffer for good.
const maxPooledBuf = 64 << 10

// bufPool holds event encoding buffers. A buffer is needed only while one
// event is written (both transports copy it into their own write buffer),
// so an idle connection holds none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// send encodes ev and writes it to t, reporting whether ev was an event
// to write at all.
func (s *Server) send(t *sseConn, ev presence.Event) (bool, error) {
	bp := bufPool.Get().(*[]byte)
	b, ok := appendEvent((*bp)[:0], ev)
	var err error
	if ok {
		err = t.writeEvent(b)
	} else {
		s.log.Debug("skipping malformed event", "kind", ev.Kind, "subscription", ev.Subscription)
	}
	*bp = b
	putBuf(bp)
	return ok, err
}

// putBuf returns a buffer to bufPool unless it grew too large to keep.
func putBuf(bp *[]byte) {
	if cap(*bp) <= maxPooledBuf {
		*bp = (*bp)[:0]
		bufPool.Put(bp)
	}
}

// appendEvent appends the stream JSON of ev to b, reporting false for an
// event of no known kind or without its change.
func appendEvent(b []byte, ev presence.Event) ([]byte, bool) {
	switch ev.Kind {
	case presence.PresenceChanged:
		if ev.Change == nil {
			return b, false
		}
		return wire.AppendPresenceEvent(b, ev.Subscription, ev.Sequence, ev.Change.Encoded(encodePresence)), true
	case presence.SubscriptionExpired:
		return wire.AppendExpiredEvent(b, ev.Subscription), true
	default:
		return b, false
	}
}

// encodePresence is the one encoder every connection passes to
// Change.Encoded, so that a change fanned out to many streams is encoded
// once and the cached bytes are shared.
func encodePresence(c *presence.Change) []byte {
	// Room for the fixed keys and a timestamp, so that the common case
	// allocates once; escaping may still grow it.
	n := 160 + len(c.Contact) + len(c.Presence.Activity) + len(c.Presence.Note)
	return wire.AppendPresence(make([]byte, 0, n), c.Contact, c.Presence)
}
