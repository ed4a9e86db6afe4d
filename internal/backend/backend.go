// Package backend is the contract between presenced's presence core and the
// connectors that watch contacts on an IM server (native, SIP, XMPP).
//
// The core decides which contacts are watched and on which application
// endpoint (internal/endpoint); a connector only carries out Watch and
// Unwatch and reports what it learns to its Sink. Protocol details never
// leak through this contract. Every connector passes the conformance suite
// in backend/backendtest.
package backend

import (
	"context"
	"errors"

	"github.com/presenced/presenced/internal/status"
)

// ErrUnsupported is returned (wrapped) by optional abilities a connector
// has but cannot perform in its current configuration, e.g. Publish on an
// XMPP backend before users have their own sessions.
var ErrUnsupported = errors.New("backend: unsupported")

// Endpoint names one application endpoint (a SIP identity, an XMPP JID, or
// a native pseudo-identity). Index is its place in the fill order.
type Endpoint struct {
	Index int
	ID    string
}

// Sink receives what a connector learns. Implementations are safe for
// concurrent use and never block for long: a connector may call them from
// its network read loops.
type Sink interface {
	// Update reports the current presence of a watched contact. A
	// connector reports Unknown with status.BackendError when it loses a
	// watch it is re-establishing, and the truth again once it has.
	Update(contact string, p status.Presence)
}

// Backend watches contacts.
//
// Watch and Unwatch are called by one goroutine at a time per contact (the
// core serialises them), but calls for different contacts may be
// concurrent. A connector must keep a watch alive (refresh, re-subscribe
// after failures, reconnect) until Unwatch, without further calls.
type Backend interface {
	// Run runs the connector until ctx is cancelled, reporting to sink.
	// Watch and Unwatch may be called only while Run is running. Run
	// returns nil after cancellation, or the error that stopped it.
	Run(ctx context.Context, sink Sink) error
	// Watch starts watching contact through ep. Once the watch is
	// established the connector calls Sink.Update with the contact's
	// current presence, and again on every change. Watching a contact that
	// is already watched through ep is a no-op. An error means the watch
	// could not be started; the core retries with backoff.
	Watch(ctx context.Context, ep Endpoint, contact string) error
	// Unwatch stops the watch of contact through ep. Unwatching a contact
	// that is not watched is a no-op. After Unwatch returns the connector
	// sends no further updates for the contact from ep.
	Unwatch(ctx context.Context, ep Endpoint, contact string) error
}

// Resolve maps a contact's email to the address a connector watches (a
// SIP URI, a JID). A contact that cannot be watched gets a reason instead
// (status.NotFound, status.NotEnabled) and the connector reports it
// Unknown with that reason; err is a transient failure (the directory is
// down), after which the connector reports Unknown/backend_error and the
// watch is retried. Connectors take one in their config; without it they
// use their own rule.
type Resolve func(ctx context.Context, contact string) (address string, reason status.Reason, err error)

// Publisher is the optional ability to publish a user's own presence.
type Publisher interface {
	// Publish sets user's presence on the IM server. It returns an error
	// wrapping ErrUnsupported when the connector cannot publish.
	Publish(ctx context.Context, user string, p status.Presence) error
}

// Fetcher is the optional ability to read a contact's presence once,
// without holding a watch.
type Fetcher interface {
	// Fetch returns contact's current presence.
	Fetch(ctx context.Context, contact string) (status.Presence, error)
}

// HealthChecker is the optional ability to report readiness.
type HealthChecker interface {
	// Healthy returns nil when the connector can serve watches, or the
	// reason it cannot.
	Healthy(ctx context.Context) error
}
