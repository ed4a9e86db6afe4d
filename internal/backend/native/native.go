// Package native is the backend in which presenced itself is the presence
// authority: users publish their own presence through the client API
// (PUT /v1/me/presence), and watches are served from shared state.
//
// Published presence lives in state.PresenceStore (so every instance sees
// it) and each publication is announced on the state bus, so a watch held
// by any instance hears of it. A user who never published, or whose
// publication expired, is Offline.
package native

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/state"
	"github.com/presenced/presenced/internal/status"
)

// Topic is the state bus topic of publications.
const Topic = "native.presence"

// DefaultTTL is how long a publication lasts without being renewed.
const DefaultTTL = 24 * time.Hour

// errNotRunning is returned by Watch outside Run.
var errNotRunning = errors.New("native backend: not running")

// Backend is the native backend. Create it with New.
type Backend struct {
	st  state.State
	clk clock.Clock
	log *slog.Logger
	ttl time.Duration

	origin string // this Backend's id on the bus: it skips its own messages

	// mu guards the fields below. Sink.Update is called with mu held for
	// reading (publications, which may run concurrently) or writing (a
	// watch's first report): that is what lets Unwatch promise that no
	// update follows its return, and keeps a watch's first report ordered
	// with the publications. The sink must therefore not call back into
	// the Backend.
	mu      sync.RWMutex
	running bool              // Run is between start and return
	sink    backend.Sink      // non-nil once Run has subscribed to the bus
	watches map[string]*watch // contact -> its watch
}

// watch is the watch of one contact.
type watch struct {
	eps map[int]struct{} // endpoint indexes the contact is watched through
	// delivered counts the bus updates reported for the contact. Watch
	// compares it around its Fetch to tell whether a newer publication
	// was reported while it read the store.
	delivered atomic.Uint64
}

var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.Publisher     = (*Backend)(nil)
	_ backend.Fetcher       = (*Backend)(nil)
	_ backend.HealthChecker = (*Backend)(nil)
)

// New returns a native backend over st. ttl <= 0 means DefaultTTL; a nil
// logger discards.
func New(st state.State, clk clock.Clock, ttl time.Duration, logger *slog.Logger) *Backend {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Backend{st: st, clk: clk, ttl: ttl, log: logger, origin: hex.EncodeToString(id[:]), watches: make(map[string]*watch)}
}

// message is a publication on the bus.
type message struct {
	Origin       string    `json:"o,omitempty"` // the publishing Backend
	User         string    `json:"user"`
	Availability uint8     `json:"a"`
	Activity     string    `json:"act,omitempty"`
	Note         string    `json:"note,omitempty"`
	Since        time.Time `json:"since"`
}

// Run listens to publications until ctx is done. Watch succeeds only once
// Run has subscribed to the bus, so that no publication after a
// successful Watch is missed. When Run returns every watch has ended. A
// Backend runs at most once at a time.
func (b *Backend) Run(ctx context.Context, sink backend.Sink) error {
	if sink == nil {
		return errors.New("native backend: nil sink")
	}
	b.mu.Lock()
	if b.running {
		b.mu.Unlock()
		return errors.New("native backend: already running")
	}
	b.running = true
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.running, b.sink = false, nil
		clear(b.watches)
		b.mu.Unlock()
	}()

	unsubscribe, err := b.st.Bus().Subscribe(ctx, Topic, b.onMessage)
	if err != nil {
		if ctx.Err() != nil {
			return nil // cancelled before we got going
		}
		return fmt.Errorf("native backend: subscribe to %s: %w", Topic, err)
	}
	// Unsubscribe before the deferred reset, so no handler runs after it.
	defer unsubscribe()
	b.mu.Lock()
	b.sink = sink
	b.mu.Unlock()
	<-ctx.Done()
	return nil
}

// onMessage reports a publication to the sink if its user is watched.
// Messages that do not decode to a valid publication are dropped: the bus
// is shared, and one bad sender must not disturb the watches.
func (b *Backend) onMessage(payload []byte) {
	var m message
	if err := json.Unmarshal(payload, &m); err != nil {
		b.log.Warn("native backend: bad bus message", "err", err)
		return
	}
	if m.User == "" || status.Availability(m.Availability) > status.Offline {
		b.log.Warn("native backend: invalid bus message", "availability", m.Availability)
		return
	}
	if m.Origin == b.origin {
		return // reported locally when it was published
	}
	b.deliver(m.User, status.Presence{Availability: status.Availability(m.Availability), Activity: m.Activity, Note: m.Note, Since: m.Since})
}

// deliver reports a publication to the sink if its user is watched.
func (b *Backend) deliver(user string, p status.Presence) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	w := b.watches[user]
	if w == nil || b.sink == nil {
		return
	}
	w.delivered.Add(1)
	b.sink.Update(user, p)
}

// Watch starts watching contact and reports its current presence. The
// watch is registered before the store is read, so a publication made
// meanwhile is reported too; if it is reported before the read completes,
// the (possibly older) value read is not reported after it.
func (b *Backend) Watch(ctx context.Context, ep backend.Endpoint, contact string) error {
	b.mu.Lock()
	if b.sink == nil {
		b.mu.Unlock()
		return fmt.Errorf("native watch %s: %w", contact, errNotRunning)
	}
	w := b.watches[contact]
	if w == nil {
		w = &watch{eps: make(map[int]struct{})}
		b.watches[contact] = w
	}
	if _, ok := w.eps[ep.Index]; ok {
		b.mu.Unlock()
		return nil
	}
	w.eps[ep.Index] = struct{}{}
	seen := w.delivered.Load()
	b.mu.Unlock()

	p, err := b.Fetch(ctx, contact)

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.watches[contact] != w {
		// Run returned meanwhile and ended every watch.
		return fmt.Errorf("native watch %s: %w", contact, errNotRunning)
	}
	if err != nil {
		b.removeLocked(contact, ep.Index)
		return fmt.Errorf("native watch %s: %w", contact, err)
	}
	if w.delivered.Load() == seen && b.sink != nil {
		b.sink.Update(contact, p)
	}
	return nil
}

// Unwatch stops watching contact through ep. Once it returns no update for
// contact is reported unless another endpoint still watches it.
func (b *Backend) Unwatch(_ context.Context, ep backend.Endpoint, contact string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.removeLocked(contact, ep.Index)
	return nil
}

// removeLocked removes endpoint index ep from contact's watch, and the
// watch once no endpoint holds it.
func (b *Backend) removeLocked(contact string, ep int) {
	w := b.watches[contact]
	if w == nil {
		return
	}
	delete(w.eps, ep)
	if len(w.eps) == 0 {
		delete(b.watches, contact)
	}
}

// Publish records user's presence and announces it. An unset Since is
// the current time.
func (b *Backend) Publish(ctx context.Context, user string, p status.Presence) error {
	if p.Since.IsZero() {
		p.Since = b.clk.Now().UTC().Truncate(time.Millisecond)
	}
	p.Reason = status.NoReason
	if err := b.st.Presence().Set(ctx, user, p, b.ttl); err != nil {
		return fmt.Errorf("native publish: %w", err)
	}
	// Watches held here hear of it at once; other instances over the bus,
	// which may drop messages under overload.
	b.deliver(user, p)
	payload, err := json.Marshal(message{Origin: b.origin, User: user, Availability: uint8(p.Availability), Activity: p.Activity, Note: p.Note, Since: p.Since})
	if err != nil {
		return fmt.Errorf("native publish: %w", err)
	}
	if err := b.st.Bus().Publish(ctx, Topic, payload); err != nil {
		return fmt.Errorf("native publish: announce: %w", err)
	}
	return nil
}

// Fetch returns contact's published presence, or Offline.
func (b *Backend) Fetch(ctx context.Context, contact string) (status.Presence, error) {
	p, err := b.st.Presence().Get(ctx, contact)
	switch {
	case errors.Is(err, state.ErrNotFound):
		return status.Presence{Availability: status.Offline}, nil
	case err != nil:
		return status.Presence{}, fmt.Errorf("native fetch: %w", err)
	}
	return p, nil
}

// Healthy reports whether the shared state answers.
func (b *Backend) Healthy(ctx context.Context) error {
	if _, err := b.st.Presence().Get(ctx, "healthcheck@presenced.invalid"); err != nil && !errors.Is(err, state.ErrNotFound) {
		return fmt.Errorf("native backend state: %w", err)
	}
	return nil
}

// Watching returns, for each watched contact, the endpoint indexes it is
// watched through, in increasing order. It is for tests and diagnostics.
func (b *Backend) Watching() map[string][]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string][]int, len(b.watches))
	for c, w := range b.watches {
		eps := make([]int, 0, len(w.eps))
		for i := range w.eps {
			eps = append(eps, i)
		}
		slices.Sort(eps)
		out[c] = eps
	}
	return out
}
