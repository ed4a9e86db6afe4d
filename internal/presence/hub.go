// Package presence is the domain core of presenced: client subscriptions
// with their sequences, change logs and expiry; refcounted contact watches
// with linger; coalescing of presence storms; allowlist decisions; and
// fan-out of changes to stream listeners and push hints.
//
// The Hub never talks to a network. It tells a Watches (the Reconciler,
// which drives the endpoint pool and the backend connector) which contacts
// it wants watched, and receives what the backend learns through Update.
//
// Locking. Hub.mu guards the structure (contacts, subscriptions, users,
// memberships). Fan-out holds Hub.mu for reading, then contact.mu (the
// per-contact coalescing state, so changes of one contact are delivered in
// order), then Subscription.mu (sequence and change log). That order is
// never reversed. Operations that write a subscription to the store
// (Subscribe, Patch, Delete, expiry) first take the owner's user lock,
// which is always acquired before Hub.mu.
package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/allowlist"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/store"
)

// Errors returned by the Hub. The API maps them to problem codes.
var (
	// ErrNotFound: no such subscription for this user.
	ErrNotFound = errors.New("presence: subscription not found")
	// ErrTooManyContacts: a subscription would hold more contacts than
	// allowed.
	ErrTooManyContacts = errors.New("presence: too many contacts")
	// ErrTooManySubscriptions: the user holds the maximum number of
	// subscriptions.
	ErrTooManySubscriptions = errors.New("presence: too many subscriptions")
	// ErrInvalidTTL: a requested TTL is outside the allowed range.
	ErrInvalidTTL = errors.New("presence: invalid ttl")
)

// TTL bounds (API.md §2).
const (
	MinTTL = 10 * time.Second
	MaxTTL = 86400 * time.Second
)

// restartSequenceGap is added to every persisted sequence when
// subscriptions are loaded at start. Sequences are persisted lazily, so
// after a crash the stored value may lag what apps saw; the gap keeps
// sequences strictly increasing for apps across restarts.
const restartSequenceGap = 1 << 20

// Config is the Hub's configuration.
type Config struct {
	SubscriptionTTL         time.Duration // default client subscription TTL (180s)
	MaxContacts             int           // per subscription and per request (1000)
	MaxSubscriptionsPerUser int           // (100)
	CoalesceInterval        time.Duration // at most one delivery per contact per interval (1s; 0 = off)
	WatchLinger             time.Duration // a watch outlives its last subscription by this long (10s)
	SweepInterval           time.Duration // expiry check period (1s)
	FlushInterval           time.Duration // lazy persistence of refreshes (5s)
}

// Watches is told which contacts the Hub wants watched by the backend.
// SetWanted must not block and must not call back into the Hub
// synchronously.
type Watches interface {
	SetWanted(contact string, wanted bool)
}

// Hint is a push hint about a changed subscription.
type Hint struct {
	PushToken, User, Subscription, Key string
	Sequence                           uint64
}

// HintSink receives push hints. Enqueue must not block.
type HintSink interface {
	Enqueue(Hint)
}

// Hub holds client subscriptions and contact state. Create it with New.
type Hub struct {
	cfg     Config
	clk     clock.Clock
	log     *slog.Logger
	watches Watches
	subs    store.SubscriptionStore
	hints   HintSink // may be nil
	m       metrics

	ttl   atomic.Int64                   // default TTL in nanoseconds (admin setting)
	allow atomic.Pointer[allowlist.List] // current allowlist

	userLocks [64]sync.Mutex // serialise operations of one user (hub change + store write)

	mu       sync.RWMutex
	contacts map[string]*contact      // guarded by mu
	byID     map[string]*Subscription // guarded by mu
	users    map[string]*user         // guarded by mu
	wanted   int                      // guarded by mu: contacts with a wanted watch

	deliveries atomic.Uint64 // events queued to listeners
	listeners  atomic.Int64  // stream listeners attached, over all users
}

// New returns a Hub. watches and subs are required; hints may be nil.
func New(cfg Config, clk clock.Clock, watches Watches, subs store.SubscriptionStore, hints HintSink, logger *slog.Logger, reg prometheus.Registerer) (*Hub, error) {
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Second
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 5 * time.Second
	}
	if cfg.MaxContacts <= 0 {
		cfg.MaxContacts = 1000
	}
	if cfg.MaxSubscriptionsPerUser <= 0 {
		cfg.MaxSubscriptionsPerUser = 100
	}
	h := &Hub{
		cfg:      cfg,
		clk:      clk,
		log:      logger,
		watches:  watches,
		subs:     subs,
		hints:    hints,
		contacts: make(map[string]*contact),
		byID:     make(map[string]*Subscription),
		users:    make(map[string]*user),
	}
	if err := h.SetTTL(cfg.SubscriptionTTL); err != nil {
		return nil, err
	}
	off := allowlist.List{}
	h.allow.Store(&off)
	m, err := newMetrics(h, reg)
	if err != nil {
		return nil, err
	}
	h.m = m
	return h, nil
}

// SetTTL sets the default subscription TTL. Subscriptions without a TTL of
// their own use it from their next refresh on.
func (h *Hub) SetTTL(d time.Duration) error {
	if d < MinTTL || d > MaxTTL {
		return fmt.Errorf("%w: %v not in %v..%v", ErrInvalidTTL, d, MinTTL, MaxTTL)
	}
	h.ttl.Store(int64(d))
	return nil
}

// TTL returns the default subscription TTL.
func (h *Hub) TTL() time.Duration { return time.Duration(h.ttl.Load()) }

// Run sweeps expired subscriptions and persists refreshes until ctx is
// done; then it persists outstanding refreshes one last time. Its periods
// run on the injected clock.
func (h *Hub) Run(ctx context.Context) error {
	sweep, stopSweep := clock.Ticker(h.clk, h.cfg.SweepInterval)
	defer stopSweep()
	flush, stopFlush := clock.Ticker(h.clk, h.cfg.FlushInterval)
	defer stopFlush()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			h.markAllDirty() // persist exact sequences on a clean shutdown
			return h.Flush(fctx)
		case <-sweep:
			h.Sweep(ctx)
		case <-flush:
			if err := h.Flush(ctx); err != nil {
				h.log.Warn("persisting subscription refreshes", "err", err)
			}
		}
	}
}

// Stats are live counts.
type Stats struct {
	ClientSubscriptions int    `json:"client_subscriptions"`
	WatchedContacts     int    `json:"watched_contacts"`
	Contacts            int    `json:"contacts"`
	Users               int    `json:"users"`
	Listeners           int    `json:"stream_listeners"`
	Deliveries          uint64 `json:"deliveries"`
}

// Stats returns live counts.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s := Stats{
		ClientSubscriptions: len(h.byID),
		WatchedContacts:     h.wanted,
		Contacts:            len(h.contacts),
		Users:               len(h.users),
		Deliveries:          h.deliveries.Load(),
		Listeners:           int(h.listeners.Load()),
	}
	return s
}

func (h *Hub) userLock(user string) *sync.Mutex {
	var x uint32 = 2166136261
	for i := 0; i < len(user); i++ {
		x = (x ^ uint32(user[i])) * 16777619
	}
	return &h.userLocks[x%uint32(len(h.userLocks))]
}
