// Package sip is the SIP SIMPLE backend (backend.kind sip): each watch the
// core places on an application endpoint becomes a presence subscription
// (RFC 6665, RFC 3856) from that endpoint's SIP identity, whose NOTIFY
// bodies (PIDF, RFC 3863, with RPID, RFC 4480) are mapped to presenced's
// presence values as docs/pidf.md describes; a user's own presence is
// PUBLISHed (RFC 3903). Subscriptions are held by sip/watcher.
//
// A contact's SIP address is "sip:" followed by its email, until the
// directory resolves addresses.
package sip

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/pidf"
	"github.com/presenced/presenced/internal/sip/locate"
	"github.com/presenced/presenced/internal/sip/watcher"
	"github.com/presenced/presenced/internal/status"
)

// Config configures the backend.
type Config struct {
	// Servers locates the presence server or Director; when nil, Server
	// (host:port over TCP) is used.
	Servers locate.Servers
	Server  string
	// TLS is the client side of TLS connections: trust store and client
	// certificate. Nil: the system roots, no client certificate.
	TLS *tls.Config
	// Resolver resolves the servers' host names; nil: the system's.
	Resolver *net.Resolver
	// Credentials gives an endpoint identity's digest credentials; nil is
	// trusted mode.
	Credentials func(identity string) (username, password string, ok bool)
	// KeepAlive is the interval of keep-alive OPTIONS (see
	// watcher.Config.KeepAlive); zero: the watcher's default.
	KeepAlive time.Duration
	// Expires is the subscription and publication duration asked for.
	Expires time.Duration
	// Resolve maps a contact to its SIP address (the directory's
	// msRTCSIP-PrimaryUserAddress); nil: Address (sip:<email>).
	Resolve backend.Resolve
	// Primary is the identity of one-shot fetches (Fetch) and of
	// publications made on users' behalf (its credentials answer a
	// challenge), normally the first endpoint's; default
	// sip:presenced@invalid.
	Primary string
	// Registry receives the backend's metrics; nil: a private one.
	Registry prometheus.Registerer
	Clock    clock.Clock
	Logger   *slog.Logger
}

var errNotRunning = errors.New("sip backend: not running")

// Backend is the SIP SIMPLE connector. Create it with New.
type Backend struct {
	cfg Config
	log *slog.Logger
	w   *watcher.Watcher
	m   metrics

	// mu guards the fields below. Sink.Update is called with mu held for
	// reading, so that Unwatch (which takes it for writing) can promise
	// that no update for the watch follows its return.
	mu      sync.RWMutex
	running bool
	sink    backend.Sink
	// watches hold each watch's SIP address ("" when the contact cannot
	// be watched: not found or not enabled); byAddr maps an endpoint's
	// subscription back to the contacts it serves.
	watches map[watchKey]string
	byAddr  map[watchKey]map[string]struct{}
	// pubs are this instance's publications, by user: their entity tag,
	// so that a new PUBLISH modifies the user's publication rather than
	// adding one, and the timer that refreshes it before it expires.
	pubs map[string]*publication
	// tupleID names this instance's tuple in its publications. Kamailio
	// keeps the older of two publications' tuples with the same id, so a
	// publication made afresh (after a restart lost the entity tag) must
	// not reuse the id of one that may linger until it expires.
	tupleID string
}

// watchKey is an endpoint and a contact (in watches) or an address (in
// byAddr).
type watchKey struct{ endpoint, contact string }

// New returns a Backend for cfg.Server.
func New(cfg Config) (*Backend, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Primary == "" {
		cfg.Primary = pingIdentity
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("sip backend: %w", err)
	}
	b := &Backend{cfg: cfg, log: log, m: m, watches: map[watchKey]string{}, byAddr: map[watchKey]map[string]struct{}{}, pubs: map[string]*publication{},
		tupleID: "pcd-" + hex.EncodeToString(id[:])}
	w, err := watcher.New(watcher.Config{
		Servers: cfg.Servers, Server: cfg.Server, TLS: cfg.TLS, Resolver: cfg.Resolver,
		Credentials: cfg.Credentials, KeepAlive: cfg.KeepAlive,
		Expires: cfg.Expires, Clock: cfg.Clock, Logger: log,
		Notify: b.notified, Pending: b.pending, Lost: b.lost,
		Refreshed: func(lag time.Duration) { b.m.refreshLag.Observe(lag.Seconds()) },
	})
	if err != nil {
		return nil, fmt.Errorf("sip backend: %w", err)
	}
	b.w = w
	return b, nil
}

// Address returns the SIP address of a contact's email when no directory
// says otherwise.
func Address(email string) string { return "sip:" + email }

// resolve is contact's SIP address by the configured resolver.
func (b *Backend) resolve(ctx context.Context, contact string) (string, status.Reason, error) {
	if b.cfg.Resolve == nil {
		return Address(contact), 0, nil
	}
	addr, reason, err := b.cfg.Resolve(ctx, contact)
	if err == nil && reason == status.NoReason && !strings.HasPrefix(addr, "sip:") && !strings.HasPrefix(addr, "sips:") {
		addr = "sip:" + addr // directories hold bare addresses too
	}
	return addr, reason, err
}

// Run serves watches until ctx is cancelled, then closes the
// subscriptions' connection (the server lets them expire).
func (b *Backend) Run(ctx context.Context, sink backend.Sink) error {
	b.mu.Lock()
	b.running, b.sink = true, sink
	b.mu.Unlock()
	<-ctx.Done()
	b.mu.Lock()
	b.running, b.sink = false, nil
	for _, p := range b.pubs {
		p.stop()
	}
	b.mu.Unlock()
	if err := b.w.Close(); err != nil {
		b.log.Debug("close watcher", "error", err)
	}
	return nil
}

// Watch subscribes ep's identity to contact's SIP address. A contact the
// resolver cannot place is reported Unknown with its reason and not
// subscribed; a resolver failure is reported Unknown/backend_error and
// returned (the core retries).
func (b *Backend) Watch(ctx context.Context, ep backend.Endpoint, contact string) error {
	b.mu.RLock()
	running := b.running
	_, dup := b.watches[watchKey{ep.ID, contact}]
	b.mu.RUnlock()
	if !running {
		return errNotRunning
	}
	if dup {
		return nil
	}
	addr, reason, err := b.resolve(ctx, contact)
	if err != nil {
		b.updateNow(contact, status.UnknownBecause(status.BackendError))
		return fmt.Errorf("sip backend: resolve %s: %w", contact, err)
	}
	k := watchKey{ep.ID, contact}
	if reason != status.NoReason {
		b.mu.Lock()
		b.watches[k] = ""
		b.mu.Unlock()
		b.updateNow(contact, status.UnknownBecause(reason))
		return nil
	}
	b.mu.Lock()
	if _, ok := b.watches[k]; ok {
		b.mu.Unlock()
		return nil
	}
	b.addLocked(k, addr)
	b.mu.Unlock()
	if err := b.w.Subscribe(ctx, ep.ID, addr); err != nil {
		b.mu.Lock()
		b.removeLocked(k)
		b.mu.Unlock()
		b.m.subscribeFailures.WithLabelValues(failureStatus(err)).Inc()
		return fmt.Errorf("sip backend: watch %s from %s: %w", contact, ep.ID, err)
	}
	b.m.dialogs.WithLabelValues(ep.ID).Inc()
	return nil
}

// addLocked records watch k of address addr; b.mu is held.
func (b *Backend) addLocked(k watchKey, addr string) {
	b.watches[k] = addr
	a := watchKey{k.endpoint, addr}
	if b.byAddr[a] == nil {
		b.byAddr[a] = map[string]struct{}{}
	}
	b.byAddr[a][k.contact] = struct{}{}
}

// removeLocked forgets watch k and returns its address; b.mu is held.
func (b *Backend) removeLocked(k watchKey) string {
	addr := b.watches[k]
	delete(b.watches, k)
	a := watchKey{k.endpoint, addr}
	if set := b.byAddr[a]; set != nil {
		delete(set, k.contact)
		if len(set) == 0 {
			delete(b.byAddr, a)
		}
	}
	return addr
}

// updateNow reports p for contact to the sink, if running.
func (b *Backend) updateNow(contact string, p status.Presence) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.sink != nil {
		b.sink.Update(contact, p)
	}
}

// Unwatch ends ep's subscription to contact. After Run has returned it
// only forgets the watch (the shutdown recipe may stop the backend before
// the reconciler).
func (b *Backend) Unwatch(ctx context.Context, ep backend.Endpoint, contact string) error {
	b.mu.Lock()
	k := watchKey{ep.ID, contact}
	_, ok := b.watches[k]
	addr := b.removeLocked(k)
	running := b.running
	b.mu.Unlock()
	if ok && addr != "" {
		b.m.dialogs.WithLabelValues(ep.ID).Dec()
	}
	if !ok || addr == "" || !running {
		// After Run the connection is closed and the server lets the
		// subscription expire: nothing to send.
		return nil
	}
	// Another watch of this endpoint may share the address (two emails
	// of one person): keep the subscription for it.
	b.mu.RLock()
	shared := len(b.byAddr[watchKey{ep.ID, addr}]) > 0
	b.mu.RUnlock()
	if shared {
		return nil
	}
	if err := b.w.Unsubscribe(ctx, ep.ID, addr); err != nil {
		return fmt.Errorf("sip backend: unwatch %s from %s: %w", contact, ep.ID, err)
	}
	return nil
}

// Healthy reports whether the presence server answers an OPTIONS request.
func (b *Backend) Healthy(ctx context.Context) error {
	b.mu.RLock()
	running := b.running
	b.mu.RUnlock()
	if !running {
		return errNotRunning
	}
	if err := b.w.Ping(ctx, pingIdentity); err != nil {
		return fmt.Errorf("sip backend: %w", err)
	}
	return nil
}

// pingIdentity is the From of health-check OPTIONS requests.
const pingIdentity = "sip:presenced@invalid"

// Fetch reads contact's presence once with an Expires: 0 SUBSCRIBE, for
// queries of contacts nobody watches.
func (b *Backend) Fetch(ctx context.Context, contact string) (status.Presence, error) {
	addr, reason, err := b.resolve(ctx, contact)
	if err != nil {
		return status.Presence{}, fmt.Errorf("sip backend: resolve %s: %w", contact, err)
	}
	if reason != status.NoReason {
		return status.UnknownBecause(reason), nil
	}
	body, err := b.w.Fetch(ctx, b.cfg.Primary, addr)
	if err != nil {
		return status.Presence{}, fmt.Errorf("sip backend: %w", err)
	}
	return b.presenceOf(contact, body), nil
}

// notified maps a NOTIFY body to the presence of the contacts watching
// its presentity through the endpoint.
func (b *Backend) notified(from, to string, body []byte) {
	b.m.notifies.Inc()
	b.report(from, to, b.presenceOf(to, body))
}

// presenceOf maps a NOTIFY body: empty means nothing is published
// (Offline); an unreadable document is Unknown with backend_error.
func (b *Backend) presenceOf(presentity string, body []byte) status.Presence {
	if len(body) == 0 {
		return status.Presence{Availability: status.Offline}
	}
	doc, err := pidf.Parse(body)
	if err != nil {
		b.log.Info("unreadable presence document", "presentity", presentity, "error", err)
		return status.UnknownBecause(status.BackendError)
	}
	return doc.Presence()
}

// pending reports a contact Unknown with reason pending while the server
// waits for the presentity to authorise the subscription.
func (b *Backend) pending(from, to string) {
	b.report(from, to, status.UnknownBecause(status.Pending))
}

// lost reports a contact Unknown while its subscription is re-established.
func (b *Backend) lost(from, to string) {
	b.m.lost.Inc()
	b.report(from, to, status.UnknownBecause(status.BackendError))
}

// report gives p to every contact endpoint watches at address.
func (b *Backend) report(endpoint, address string, p status.Presence) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.sink == nil {
		return
	}
	for contact := range b.byAddr[watchKey{endpoint, address}] {
		b.sink.Update(contact, p)
	}
}
