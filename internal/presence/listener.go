package presence

import (
	"sync"

	"github.com/presenced/presenced/internal/status"
)

// EventKind tells the kinds of events a Listener receives.
type EventKind uint8

// The event kinds.
const (
	// PresenceChanged: a contact of one of the user's subscriptions
	// changed; Sequence is the subscription's new sequence.
	PresenceChanged EventKind = iota + 1
	// SubscriptionExpired: the subscription expired and is gone.
	SubscriptionExpired
)

// Event is one delivery to a user's listeners.
type Event struct {
	Kind         EventKind
	Subscription string // subscription id
	Sequence     uint64 // PresenceChanged only
	Change       *Change
}

// Change is one contact's new state. A Change is shared, read-only, by
// every event that delivers it, so per-change work (such as JSON encoding)
// can be done once and cached by the consumer.
type Change struct {
	Contact  string
	Presence status.Presence

	encOnce sync.Once
	enc     []byte
}

// Encoded returns enc(c), computing it at most once per Change. All callers
// must pass the same encoder.
func (c *Change) Encoded(enc func(*Change) []byte) []byte {
	c.encOnce.Do(func() { c.enc = enc(c) })
	return c.enc
}

// Listener receives the events of one user's subscriptions, for one stream
// connection. Its queue is bounded: when it is full the listener is
// dropped (Done closes, Overflowed reports true) rather than blocking
// delivery to anyone else. The app reconnects and catches up with
// "changes since".
//
// The queue grows on demand and is handed over whole by Drain, so an idle
// listener holds almost no memory and a busy consumer takes every pending
// event at once (and can write them in one go).
type Listener struct {
	user  string
	max   int
	ready chan struct{} // capacity 1: signalled when the queue turns non-empty
	done  chan struct{}

	mu         sync.Mutex // guards the fields below
	queue      []Event
	closed     bool
	overflowed bool
	onClose    func(*Listener)
	notify     func()
}

// NewListener returns a listener for user's events with a queue of at most
// queueSize events. onClose, when not nil, is called once when the
// listener is closed or dropped; it must not block. The hub creates
// listeners; fakes in tests of consumers may too.
func NewListener(user string, queueSize int, onClose func(*Listener)) *Listener {
	if queueSize < 1 {
		queueSize = 1
	}
	return &Listener{
		user:    user,
		max:     queueSize,
		ready:   make(chan struct{}, 1),
		done:    make(chan struct{}),
		onClose: onClose,
	}
}

// User returns the email whose events the listener receives.
func (l *Listener) User() string { return l.user }

// Ready is signalled when events are waiting; call Drain to take them. A
// signal may be stale (Drain then returns nothing).
func (l *Listener) Ready() <-chan struct{} { return l.ready }

// Drain appends every queued event to buf, in order, empties the queue
// and returns the result. Passing back the slice of the previous Drain
// lets the listener and its consumer swap two buffers without copying.
func (l *Listener) Drain(buf []Event) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(buf) == 0 && cap(buf) >= cap(l.queue) {
		out := l.queue
		l.queue = buf[:0]
		return out
	}
	buf = append(buf, l.queue...)
	clear(l.queue)
	l.queue = l.queue[:0]
	return buf
}

// SetNotify sets f to be called when events become ready (the queue
// turns non-empty) and once when the listener closes or is dropped. It
// lets a consumer wait without a goroutine of its own. f runs on the
// delivering goroutine, possibly with the hub's locks held: it must not
// block or call into the hub.
func (l *Listener) SetNotify(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.notify = f
}

// Len returns the number of queued events.
func (l *Listener) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

// Cap returns the most events the queue holds before the listener is
// dropped.
func (l *Listener) Cap() int { return l.max }

// Done is closed when the listener is closed or dropped.
func (l *Listener) Done() <-chan struct{} { return l.done }

// Overflowed reports whether the listener was dropped because its queue
// was full.
func (l *Listener) Overflowed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.overflowed
}

// Close detaches the listener. It is safe to call more than once.
func (l *Listener) Close() { l.shut(false) }

// Offer queues ev without blocking and reports whether it was queued. A
// full queue drops the listener.
func (l *Listener) Offer(ev Event) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	if len(l.queue) >= l.max {
		l.mu.Unlock()
		l.shut(true)
		return false
	}
	l.queue = append(l.queue, ev)
	first := len(l.queue) == 1
	notify := l.notify
	l.mu.Unlock()
	if first {
		select {
		case l.ready <- struct{}{}:
		default:
		}
		if notify != nil {
			notify()
		}
	}
	return true
}

func (l *Listener) shut(overflow bool) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.overflowed = overflow
	l.queue = nil
	onClose, notify := l.onClose, l.notify
	l.mu.Unlock()
	close(l.done)
	if onClose != nil {
		onClose(l)
	}
	if notify != nil {
		notify()
	}
}
