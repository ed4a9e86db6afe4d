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
type Listener struct {
	user   string
	events chan Event
	done   chan struct{}

	mu         sync.Mutex // guards closed and overflowed
	closed     bool
	overflowed bool
	onClose    func(*Listener)
}

// NewListener returns a listener for user's events with a queue of
// queueSize events. onClose, when not nil, is called once when the listener
// is closed or dropped; it must not block. The hub creates listeners; fakes
// in tests of consumers may too.
func NewListener(user string, queueSize int, onClose func(*Listener)) *Listener {
	if queueSize < 1 {
		queueSize = 1
	}
	return &Listener{
		user:    user,
		events:  make(chan Event, queueSize),
		done:    make(chan struct{}),
		onClose: onClose,
	}
}

// User returns the email whose events the listener receives.
func (l *Listener) User() string { return l.user }

// Events returns the channel events arrive on. It is never closed; select
// on Done as well.
func (l *Listener) Events() <-chan Event { return l.events }

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
	select {
	case <-l.done:
		return false
	default:
	}
	select {
	case l.events <- ev:
		return true
	default:
		l.shut(true)
		return false
	}
}

func (l *Listener) shut(overflow bool) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.overflowed = overflow
	onClose := l.onClose
	l.mu.Unlock()
	close(l.done)
	if onClose != nil {
		onClose(l)
	}
}
