// Package xmpp is the XMPP backend (backend.kind xmpp). It watches
// contacts on one or more XMPP clusters, each serving listed email
// domains, in one of two modes:
//
//   - component (trusted): presenced is an XEP-0114 component granted
//     XEP-0356 presence privileges and receives every user's presence
//     without their credentials (internal/xmpp/component). Watch and
//     Unwatch only choose which users are reported.
//   - accounts: each endpoint is an XMPP account that holds roster
//     subscriptions to the contacts placed on it (internal/xmpp/account).
//
// Presence stanzas are parsed and a user's resources merged by
// internal/xmpp/presence (docs/xmpp-presence.md). A contact's JID is its
// email's local part at the cluster's XMPP domain. Publishing a user's own
// presence is not supported until users have XMPP sessions of their own
// (PUT /v1/me/presence answers 501).
package xmpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/status"
	xpresence "github.com/presenced/presenced/internal/xmpp/presence"
)

// Config configures the backend.
type Config struct {
	// Clusters are the XMPP clusters; each has its connection side set
	// (Link) by the caller.
	Clusters []ClusterConfig
	// Resolve maps a contact to its JID (the directory's XMPP attribute);
	// nil: the cluster's rule (local part @ XMPPDomain). The cluster is
	// chosen by the email's domain either way.
	Resolve backend.Resolve
	// Registry receives the backend's metrics; nil: a private one.
	Registry prometheus.Registerer
	Clock    clock.Clock
	Logger   *slog.Logger
}

// ClusterConfig is one cluster: its routing and its connections.
type ClusterConfig struct {
	Cluster
	// Link connects to the cluster; see NewComponentLink and
	// NewAccountsLink.
	Link LinkMaker
	// InitialPresence says the server sends the current presence of every
	// online user when the component connects (Prosody does, ejabberd does
	// not): a watched user not heard from by SettleTime after connecting
	// is then Offline. Without it such a user is Unknown/pending until
	// its first presence.
	InitialPresence bool
	// SettleTime is how long after connecting the initial presences may
	// take; default 2 s.
	SettleTime time.Duration
}

// LinkMaker builds a cluster's link, given the callbacks it reports to.
type LinkMaker func(events LinkEvents) (Link, error)

// LinkEvents are what a link reports. They must not block.
type LinkEvents struct {
	// Presence is a presence stanza as received.
	Presence func(raw []byte)
	// State is whether the link can deliver presence now (connected,
	// and in component mode privileged), with the reason when not: for
	// the whole cluster when endpoint is "", else for that endpoint (an
	// account) alone.
	State func(endpoint string, up bool, err error)
}

// Link is one cluster's connection side.
type Link interface {
	// Run keeps the connections up until ctx ends.
	Run(ctx context.Context) error
	// Health is nil when presence flows, else why not.
	Health() error
	// Watch starts receiving jid's presence through endpoint ep (an
	// account in accounts mode; ignored by a component, which receives
	// everyone's).
	Watch(ctx context.Context, ep, jid string) error
	// Unwatch stops it.
	Unwatch(ctx context.Context, ep, jid string) error
	// Accounts reports whether presence comes through subscriptions of
	// accounts (only watched users are heard of) rather than privileges.
	Accounts() bool
}

var errNotRunning = errors.New("xmpp backend: not running")

// Backend is the XMPP connector. Create it with New.
type Backend struct {
	cfg    Config
	log    *slog.Logger
	router *router
	m      metrics

	// mu guards the fields below and every cluster's state. Sink.Update
	// is called with mu held for reading, so that Unwatch (which takes it
	// for writing) can promise that no update for the watch follows.
	mu       sync.RWMutex
	running  bool
	sink     backend.Sink
	clusters []*cluster
}

// cluster is the state of one cluster.
type cluster struct {
	cfg     ClusterConfig
	link    Link
	up      bool            // component mode: the component delivers presence
	upEP    map[string]bool // accounts mode: accounts logged in
	settled bool            // initial presences had their time since up
	settle  clock.Timer     // pending settle
	users   map[xpresence.JID]*xpresence.User
	watched map[xpresence.JID]map[watchKey]struct{}
	// watchedJID is the JID of each watch (the resolver may give one other
	// than the cluster's rule).
	watchedJID map[watchKey]xpresence.JID
}

type watchKey struct{ endpoint, contact string }

// New returns the backend; Run starts its connections.
func New(cfg Config) (*Backend, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Clusters) == 0 {
		return nil, errors.New("xmpp backend: no cluster")
	}
	routes := make([]Cluster, len(cfg.Clusters))
	for i, c := range cfg.Clusters {
		routes[i] = c.Cluster
	}
	r, err := newRouter(routes)
	if err != nil {
		return nil, fmt.Errorf("xmpp backend: %w", err)
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("xmpp backend: %w", err)
	}
	b := &Backend{cfg: cfg, log: log, router: r, m: m}
	for i, cc := range cfg.Clusters {
		if cc.SettleTime <= 0 {
			cc.SettleTime = 2 * time.Second
		}
		c := &cluster{cfg: cc, users: map[xpresence.JID]*xpresence.User{}, watched: map[xpresence.JID]map[watchKey]struct{}{}, watchedJID: map[watchKey]xpresence.JID{}, upEP: map[string]bool{}}
		link, err := cc.Link(LinkEvents{
			Presence: func(raw []byte) { b.presence(i, raw) },
			State: func(ep string, up bool, err error) {
				if ep == "" {
					b.state(i, up, err)
				} else {
					b.endpointState(i, ep, up, err)
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("xmpp backend: cluster %s: %w", cc.Name, err)
		}
		c.link = link
		b.clusters = append(b.clusters, c)
	}
	return b, nil
}

// Run runs every cluster's link until ctx is cancelled.
func (b *Backend) Run(ctx context.Context, sink backend.Sink) error {
	b.mu.Lock()
	b.running, b.sink = true, sink
	b.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(b.clusters))
	for i, c := range b.clusters {
		wg.Go(func() { errs[i] = c.link.Run(ctx) })
	}
	wg.Wait()
	b.mu.Lock()
	b.running, b.sink = false, nil
	for _, c := range b.clusters {
		if c.settle != nil {
			c.settle.Stop()
		}
	}
	b.mu.Unlock()
	if ctx.Err() != nil {
		return nil
	}
	return errors.Join(errs...)
}

// Watch starts reporting contact's presence.
func (b *Backend) Watch(ctx context.Context, ep backend.Endpoint, contact string) error {
	i, jidStr, err := b.router.route(contact)
	if err != nil {
		return fmt.Errorf("xmpp backend: %w", err)
	}
	b.mu.RLock()
	running := b.running
	b.mu.RUnlock()
	if !running {
		return errNotRunning
	}
	if b.cfg.Resolve != nil {
		addr, reason, err := b.cfg.Resolve(ctx, contact)
		switch {
		case err != nil:
			b.updateNow(contact, status.UnknownBecause(status.BackendError))
			return fmt.Errorf("xmpp backend: resolve %s: %w", contact, err)
		case reason != status.NoReason:
			b.updateNow(contact, status.UnknownBecause(reason))
			return nil // nothing to watch; Unwatch finds nothing
		}
		if addr != "" { // else the cluster's rule
			jidStr = strings.ToLower(strings.TrimPrefix(addr, "xmpp:"))
		}
	}
	jid, err := xpresence.ParseJID(jidStr)
	if err != nil {
		return fmt.Errorf("xmpp backend: contact %s: %w", contact, err)
	}
	c := b.clusters[i]
	if err := c.link.Watch(ctx, ep.ID, jidStr); err != nil {
		return fmt.Errorf("xmpp backend: watch %s on %s: %w", contact, c.cfg.Name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	w := c.watched[jid]
	if w == nil {
		w = map[watchKey]struct{}{}
		c.watched[jid] = w
	}
	k := watchKey{ep.ID, contact}
	if _, dup := w[k]; dup {
		return nil
	}
	w[k] = struct{}{}
	c.watchedJID[k] = jid
	b.m.watched.WithLabelValues(c.cfg.Name).Inc()
	if b.sink != nil {
		b.sink.Update(contact, b.presenceLocked(c, jid, ep.ID))
	}
	return nil
}

// Unwatch stops reporting contact's presence through ep.
func (b *Backend) Unwatch(ctx context.Context, ep backend.Endpoint, contact string) error {
	i, _, err := b.router.route(contact)
	if err != nil {
		return nil // never watched
	}
	c := b.clusters[i]
	k := watchKey{ep.ID, contact}
	b.mu.Lock()
	jid, was := c.watchedJID[k]
	w := c.watched[jid]
	delete(c.watchedJID, k)
	delete(w, k)
	if len(w) == 0 {
		delete(c.watched, jid)
		if c.link.Accounts() {
			delete(c.users, jid) // heard of only while subscribed
		}
	}
	if was {
		b.m.watched.WithLabelValues(c.cfg.Name).Dec()
	}
	b.mu.Unlock()
	if !was {
		return nil
	}
	if err := c.link.Unwatch(ctx, ep.ID, jid.String()); err != nil {
		return fmt.Errorf("xmpp backend: unwatch %s on %s: %w", contact, c.cfg.Name, err)
	}
	return nil
}

// healthWait is how long Healthy waits for links that are not up yet,
// e.g. right after Run started.
const healthWait = 2 * time.Second

// Healthy reports whether every cluster delivers presence, naming those
// that do not. It waits up to healthWait (or ctx) for them to come up.
func (b *Backend) Healthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, healthWait)
	defer cancel()
	for {
		err := b.health()
		if err == nil || errors.Is(err, errNotRunning) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (b *Backend) health() error {
	b.mu.RLock()
	running := b.running
	b.mu.RUnlock()
	if !running {
		return errNotRunning
	}
	var errs []error
	for _, c := range b.clusters {
		if err := c.link.Health(); err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", c.cfg.Name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("xmpp backend: %w", errors.Join(errs...))
	}
	return nil
}

// updateNow reports p for contact to the sink, if running.
func (b *Backend) updateNow(contact string, p status.Presence) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.sink != nil {
		b.sink.Update(contact, p)
	}
}

// presenceLocked is what a user watched through endpoint ep shows now;
// b.mu is held.
func (b *Backend) presenceLocked(c *cluster, jid xpresence.JID, ep string) status.Presence {
	if c.link.Accounts() && !c.upEP[ep] || !c.link.Accounts() && !c.up {
		return status.UnknownBecause(status.BackendError)
	}
	if u := c.users[jid]; u != nil {
		return u.Presence()
	}
	if c.settled && c.cfg.InitialPresence && !c.link.Accounts() {
		return status.Presence{Availability: status.Offline}
	}
	return status.UnknownBecause(status.Pending)
}

// presence handles a stanza from cluster i.
func (b *Backend) presence(i int, raw []byte) {
	c := b.clusters[i]
	st, err := xpresence.Parse(raw)
	if err != nil {
		b.m.stanzaErrors.WithLabelValues(c.cfg.Name).Inc()
		b.log.Debug("unreadable presence stanza", "cluster", c.cfg.Name, "error", err)
		return
	}
	b.m.presences.WithLabelValues(c.cfg.Name).Inc()
	switch st.Type {
	case xpresence.TypeAvailable, xpresence.TypeUnavailable, xpresence.TypeError:
	default:
		return // probes and subscription handling are the link's business
	}
	jid := st.From.Bare()
	b.mu.Lock()
	defer b.mu.Unlock()
	w := c.watched[jid]
	u := c.users[jid]
	if u == nil {
		// In accounts mode the stanza comes from a contact on an
		// account's roster, which the server sent on login, possibly
		// before its Watch: it is kept (rosters are bounded by the
		// endpoint capacity) until Unwatch.
		u = xpresence.NewUser(b.cfg.Clock.Now)
		c.users[jid] = u
	}
	changed := u.Apply(st)
	if len(w) == 0 && !c.link.Accounts() && u.Presence().Availability == status.Offline {
		delete(c.users, jid) // a component keeps only users online or watched
	}
	if !changed || len(w) == 0 || b.sink == nil {
		return
	}
	p := u.Presence()
	for k := range w {
		b.sink.Update(k.contact, p)
	}
}

// state handles a change of cluster i's link.
func (b *Backend) state(i int, up bool, err error) {
	c := b.clusters[i]
	b.mu.Lock()
	defer b.mu.Unlock()
	if up == c.up {
		return
	}
	c.up = up
	b.m.up.WithLabelValues(c.cfg.Name).Set(boolGauge(up))
	if c.settle != nil {
		c.settle.Stop()
		c.settle = nil
	}
	if !up {
		b.log.Info("xmpp cluster down", "cluster", c.cfg.Name, "error", err)
		c.settled = false
		clear(c.users) // what they show is unknown until heard again
		b.reportAllLocked(c)
		return
	}
	b.log.Info("xmpp cluster up", "cluster", c.cfg.Name)
	b.reportAllLocked(c) // pending until heard from, or the settle below
	c.settle = b.cfg.Clock.AfterFunc(c.cfg.SettleTime, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !c.up || c.settled {
			return
		}
		c.settled = true
		b.reportAllLocked(c)
	})
}

// reportAllLocked reports every watched user of c that has not been heard
// from; b.mu is held.
func (b *Backend) reportAllLocked(c *cluster) {
	if b.sink == nil {
		return
	}
	for jid, w := range c.watched {
		if c.up && c.users[jid] != nil {
			continue // already reported from its stanzas
		}
		for k := range w {
			b.sink.Update(k.contact, b.presenceLocked(c, jid, k.endpoint))
		}
	}
}

// endpointState handles a change of one account of cluster i: the users
// watched through it are unknown while it is logged out, and heard of
// again once it is back (the server sends their presence on login).
func (b *Backend) endpointState(i int, ep string, up bool, err error) {
	c := b.clusters[i]
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.upEP[ep] == up {
		return
	}
	c.upEP[ep] = up
	if !up {
		b.log.Info("xmpp account down", "cluster", c.cfg.Name, "account", ep, "error", err)
	}
	if b.sink == nil {
		return
	}
	for jid, w := range c.watched {
		for k := range w {
			if k.endpoint != ep {
				continue
			}
			if !up {
				delete(c.users, jid)
			}
			b.sink.Update(k.contact, b.presenceLocked(c, jid, ep))
		}
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
