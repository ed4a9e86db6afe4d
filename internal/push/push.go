// Package push sends push hints to a push relay (API.md §3 "Push hints").
//
// When a client subscription that has a push token changes, the presence
// core calls Pusher.Enqueue. The Pusher POSTs a small signed JSON hint to
// the relay, which wakes the app; the app then fetches the changes itself,
// so a hint carries no presence, only the subscription's new sequence.
//
// Hints are coalesced per subscription: at most one hint per subscription
// is pending (queued, being sent or awaiting a retry), and a newer hint
// replaces the pending one's body. Failed deliveries are retried with
// exponential backoff and full jitter, scheduled on the injected clock.
// Hints still pending at shutdown are saved in a store.HintStore and resent
// by the next Run.
package push

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	randv2 "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/presence"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/store"
)

// saveTimeout bounds the HintStore.Save at the end of Run.
const saveTimeout = 5 * time.Second

// Hint is what the presence hub reports about a changed subscription; the
// relay receives it as JSON (see wireHint). PushToken is never logged.
type Hint = presence.Hint

// wireHint is a Hint's JSON body as the relay receives it.
type wireHint struct {
	PushToken    string `json:"push_token"`
	User         string `json:"user"`
	Subscription string `json:"subscription"`
	Key          string `json:"key"`
	Sequence     uint64 `json:"sequence"`
}

// Config configures a Pusher. Zero values take the stated defaults.
type Config struct {
	URL         string        // the relay; required
	Secret      string        // HMAC-SHA256 key for SignatureHeader; never logged
	Timeout     time.Duration // per attempt; default 10s
	MaxAttempts int           // then the hint is dropped and counted; default 10
	QueueSize   int           // max distinct subscriptions pending; beyond it new hints are dropped and counted; default 10000
	Workers     int           // concurrent deliveries; default 4
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 10000
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	return c
}

// entryState is where a pending hint is in its delivery.
type entryState uint8

const (
	stateQueued  entryState = iota // in Pusher.ready (or interrupted by shutdown)
	stateSending                   // a worker holds it
	stateWaiting                   // its retry timer is armed
)

// entry is the pending hint of one subscription. All fields but sub are
// guarded by Pusher.mu.
type entry struct {
	sub      string
	body     []byte    // the newest hint's exact JSON body
	id       string    // delivery id of body; a new body gets a new id
	created  time.Time // when body was enqueued
	state    entryState
	stale    bool // body was replaced while being sent
	failures int  // failed attempts so far
	timer    clock.Timer
}

// Pusher delivers push hints to the relay. Enqueue is safe for concurrent
// use; Run must be called once.
type Pusher struct {
	cfg    Config
	secret []byte
	client *http.Client
	hints  store.HintStore
	clk    clock.Clock
	log    *slog.Logger
	m      *metrics
	jitter func(n int64) int64 // uniform in [0, n)

	// ready holds the entries in stateQueued, each at most once. Its
	// capacity is QueueSize, which bounds len(pending), so sends never
	// block.
	ready chan *entry

	mu      sync.Mutex        // guards pending, stopped and every entry
	pending map[string]*entry // by subscription id
	stopped bool              // Run has saved the pending hints and is returning
}

// New returns a Pusher that posts hints to cfg.URL with client. hints keeps
// undelivered hints across restarts; it may be nil, and the hints pending at
// shutdown are then lost (and counted). client, clk and logger may be nil
// (http.DefaultClient, the wall clock, no logs); so may reg, and otherwise
// New registers the presenced_push_* metrics with it, panicking if they
// are already registered.
func New(cfg Config, client *http.Client, hints store.HintStore, clk clock.Clock, logger *slog.Logger, reg prometheus.Registerer) *Pusher {
	cfg = cfg.withDefaults()
	if client == nil {
		client = http.DefaultClient
	}
	if clk == nil {
		clk = clock.Real{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pusher{
		cfg:     cfg,
		secret:  []byte(cfg.Secret),
		client:  client,
		hints:   hints,
		clk:     clk,
		log:     logger,
		m:       newMetrics(reg),
		jitter:  randv2.Int64N,
		ready:   make(chan *entry, cfg.QueueSize),
		pending: make(map[string]*entry),
	}
}

// Enqueue schedules h for delivery and never blocks. When h's subscription
// already has a pending hint, h replaces it; otherwise, when QueueSize
// subscriptions are pending, or after Run has returned, h is dropped and
// counted. Hints enqueued before Run starts are sent once it does.
func (p *Pusher) Enqueue(h Hint) {
	body, err := json.Marshal(wireHint(h))
	if err != nil { // unreachable for strings and an integer
		p.log.Error("encode push hint", "subscription", h.Subscription, "err", err)
		return
	}
	p.add(h.Subscription, body, p.clk.Now(), false)
}

// Run first re-enqueues the hints saved by a previous Run, then delivers
// hints until ctx is done. On the way out it cancels deliveries in flight,
// saves every undelivered hint (queued or awaiting a retry) with
// HintStore.Save under a fresh short timeout, and returns nil. Failures of
// the HintStore are logged, not returned: push hints are best effort and
// must not stop the server.
func (p *Pusher) Run(ctx context.Context) error {
	p.restore(ctx)
	var wg sync.WaitGroup
	for range p.cfg.Workers {
		wg.Go(func() { p.work(ctx) })
	}
	wg.Wait()
	p.save(ctx)
	return nil
}

// add makes body the pending hint of sub. A restored hint (from the store)
// never replaces a pending one, which is newer.
func (p *Pusher) add(sub string, body []byte, created time.Time, restored bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		p.m.count(resultDroppedShutdown)
		p.log.Debug("push hint after shutdown; dropped", "subscription", sub)
		return
	}
	if e, ok := p.pending[sub]; ok {
		if restored {
			return
		}
		e.body, e.id, e.created = body, newDeliveryID(), created
		if e.state == stateSending {
			e.stale = true
		}
		return
	}
	if len(p.pending) >= p.cfg.QueueSize {
		p.m.count(resultDroppedQueueFull)
		p.log.Debug("push queue full; hint dropped", "subscription", sub)
		return
	}
	e := &entry{sub: sub, body: body, id: newDeliveryID(), created: created}
	p.pending[sub] = e
	p.queueLocked(e)
}

// queueLocked hands e to the workers.
func (p *Pusher) queueLocked(e *entry) {
	e.state = stateQueued
	select {
	case p.ready <- e:
	default:
		// Unreachable while len(pending) <= cap(ready); drop rather
		// than block under the lock.
		delete(p.pending, e.sub)
		p.m.count(resultDroppedQueueFull)
		p.log.Error("push ready queue overflow; hint dropped", "subscription", e.sub)
	}
	p.m.queue.Set(float64(len(p.pending)))
}

// restore re-enqueues the hints a previous Run saved.
func (p *Pusher) restore(ctx context.Context) {
	if p.hints == nil {
		return
	}
	saved, err := p.hints.Take(ctx)
	if err != nil {
		p.log.Error("take saved push hints", "err", err)
		return
	}
	for _, h := range saved {
		p.add(h.Subscription, h.Body, h.CreatedAt, true)
	}
	if len(saved) > 0 {
		p.log.Info("resending saved push hints", "count", len(saved))
	}
}

// save stops the Pusher and stores every pending hint.
func (p *Pusher) save(ctx context.Context) {
	p.mu.Lock()
	p.stopped = true
	hints := make([]store.Hint, 0, len(p.pending))
	for _, e := range p.pending {
		if e.timer != nil {
			e.timer.Stop()
		}
		hints = append(hints, store.Hint{Subscription: e.sub, Body: e.body, CreatedAt: e.created})
	}
	clear(p.pending)
	p.m.queue.Set(0)
	p.mu.Unlock()

	if len(hints) == 0 {
		return
	}
	lost := func(msg string, args ...any) {
		p.m.hints.WithLabelValues(resultDroppedShutdown).Add(float64(len(hints)))
		p.log.Warn(msg, append(args, "count", len(hints))...)
	}
	if p.hints == nil {
		lost("no hint store; pending push hints lost")
		return
	}
	slices.SortFunc(hints, func(a, b store.Hint) int { return strings.Compare(a.Subscription, b.Subscription) })
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	if err := p.hints.Save(sctx, hints); err != nil {
		lost("save pending push hints; lost", "err", err)
		return
	}
	p.log.Info("saved pending push hints", "count", len(hints))
}

// newDeliveryID returns a random id for DeliveryHeader.
func newDeliveryID() string { return rand.Text() }
