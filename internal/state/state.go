// Package state is the contract for the runtime data that several presenced
// instances share: the presence of users presenced itself is the authority
// for, a message bus between instances, and expiring leases that give one
// live instance ownership of a resource (such as an application endpoint).
//
// Implementations: state/memory (a single instance) and, later,
// state/redis. Every implementation passes the conformance suite in
// state/statetest.
//
// Unlike the store, state is not durable: values expire, bus messages may
// be lost, and an instance that restarts rebuilds what it needs. Callers
// must treat every part of it as a cache they can resync.
//
// All methods are safe for concurrent use and honour ctx cancellation (the
// error then wraps ctx.Err()). Errors other than the sentinels below are
// wrapped I/O failures or, for invalid arguments documented per method,
// programming errors.
package state

import (
	"context"
	"errors"
	"time"

	"github.com/presenced/presenced/internal/status"
)

// Sentinel errors. Callers compare with errors.Is.
var (
	// ErrNotFound: the value does not exist or has expired.
	ErrNotFound = errors.New("state: not found")
	// ErrClosed: the State was closed.
	ErrClosed = errors.New("state: closed")
)

// State is the shared runtime state.
type State interface {
	Presence() PresenceStore
	Bus() Bus
	Leases() Leases
	// Close stops every bus subscription, waiting for running handlers to
	// return, and releases the State's resources. Values already written
	// are left to expire. After Close every method fails with ErrClosed
	// and unsubscribe functions are no-ops; Close itself is idempotent
	// (later calls return nil). Close must not be called from a bus
	// handler.
	Close() error
}

// PresenceStore holds the last published presence of users whose presence
// presenced itself is the authority for (the native backend). Values
// expire: a published presence lives for ttl, after which Get returns
// ErrNotFound (a user who stopped publishing is no longer known).
//
// A value read back equals the value set (Since compares with
// time.Time.Equal; its location and monotonic reading are not kept).
type PresenceStore interface {
	// Set stores p as user's presence for ttl, replacing any earlier value
	// and its expiry. ttl must be positive.
	Set(ctx context.Context, user string, p status.Presence, ttl time.Duration) error
	// Get returns user's unexpired presence, or ErrNotFound.
	Get(ctx context.Context, user string) (status.Presence, error)
	// GetMany returns the unexpired presence of each of users that has
	// one, in a non-nil map keyed by user; users without one are absent.
	// Duplicates in users are allowed.
	GetMany(ctx context.Context, users []string) (map[string]status.Presence, error)
}

// Bus carries small messages between instances. Every instance, including
// the sender, receives each message published on a topic after its
// Subscribe to that topic returned. Delivery is at-most-once and may drop
// under overload, so receivers must tolerate loss and resync.
//
// Handlers are called sequentially per subscription (never concurrently
// with themselves), and messages that one goroutine publishes one after
// another arrive at each subscription in publish order; messages of
// concurrent publishers may interleave differently at different
// subscriptions. Handlers must not block for long: a slow handler makes
// its own subscription drop messages, not the publisher wait.
type Bus interface {
	// Publish sends payload to every subscription of topic. Topics are
	// arbitrary strings compared exactly. Publish copies payload: the
	// caller may reuse it once Publish returns. A nil error means the
	// message was handed to the bus, not that anyone received it.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe calls handler with the payload of each message published
	// on topic until unsubscribe is called or the State is closed. ctx
	// bounds only the Subscribe call, not the subscription. handler must
	// treat payload as read-only (it may be shared with other
	// subscriptions) but may keep it; an empty payload may arrive as nil.
	//
	// unsubscribe is idempotent. When it returns, the handler is not
	// running and will not be called again; it therefore must not be
	// called from the handler itself.
	Subscribe(ctx context.Context, topic string, handler func(payload []byte)) (unsubscribe func(), err error)
}

// Leases give exclusive, expiring ownership of named resources (an
// application endpoint is owned by exactly one live instance). At any
// moment at most one owner holds an unexpired lease on a name. Owners are
// non-empty strings that identify an instance; names are arbitrary.
type Leases interface {
	// Acquire takes or renews the lease name for owner for ttl and reports
	// whether owner holds it now (false when another owner holds an
	// unexpired lease). Renewing replaces the expiry with now+ttl. owner
	// must be non-empty and ttl positive.
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// Release gives the lease up if owner holds it; no error otherwise.
	Release(ctx context.Context, name, owner string) error
	// Owner returns the current owner of name, or ErrNotFound when nobody
	// holds it (never held, released or expired).
	Owner(ctx context.Context, name string) (string, error)
}

// DropCounter is the optional ability of a State to report how many bus
// deliveries it dropped because a subscription could not keep up. The
// composition root exports it as a metric.
type DropCounter interface {
	// BusDropped returns the number of deliveries dropped since the State
	// was created (a message dropped by two subscriptions counts twice).
	BusDropped() uint64
}
