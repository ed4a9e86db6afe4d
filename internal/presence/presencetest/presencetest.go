// Package presencetest provides in-memory fakes of the presence core's
// dependencies: a SubscriptionStore that counts calls and fails on demand,
// a Watches recorder, and a Backend that records Watch and Unwatch calls.
//
// It does not import package presence (the presence package's own tests
// use it); the fakes satisfy the presence interfaces structurally.
package presencetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/store"
)

// ErrInjected is the error fakes return when told to fail without a
// specific error.
var ErrInjected = errors.New("presencetest: injected failure")

// Op names a method of a fake, for counting calls and injecting failures.
type Op string

// The operations of Store.
const (
	OpPut    Op = "Put"
	OpTouch  Op = "Touch"
	OpDelete Op = "Delete"
	OpList   Op = "List"
)

// Store is an in-memory store.SubscriptionStore. It counts calls per
// operation and returns an injected error for an operation until the error
// is cleared. It is safe for concurrent use. The zero value is not usable;
// call NewStore.
type Store struct {
	mu    sync.Mutex
	subs  map[string]store.Subscription // guarded by mu
	calls map[Op]int                    // guarded by mu
	fail  map[Op]error                  // guarded by mu
}

var _ store.SubscriptionStore = (*Store)(nil)

// NewStore returns a store holding subs.
func NewStore(subs ...store.Subscription) *Store {
	s := &Store{
		subs:  make(map[string]store.Subscription),
		calls: make(map[Op]int),
		fail:  make(map[Op]error),
	}
	for _, sub := range subs {
		s.subs[sub.ID] = clone(sub)
	}
	return s
}

// Fail makes every later call of op fail with err (wrapped); a nil err
// makes op succeed again. Failing calls are counted but change nothing.
func (s *Store) Fail(op Op, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.fail, op)
		return
	}
	s.fail[op] = err
}

// Calls returns how many times op was called, failed calls included.
func (s *Store) Calls(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Get returns the stored subscription id and reports whether it exists.
func (s *Store) Get(id string) (store.Subscription, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[id]
	return clone(sub), ok
}

// All returns every stored subscription, sorted by ID.
func (s *Store) All() []store.Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Subscription, 0, len(s.subs))
	for _, sub := range s.subs {
		out = append(out, clone(sub))
	}
	slices.SortFunc(out, func(a, b store.Subscription) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// beginLocked counts a call of op and returns its injected error, if any.
// s.mu must be held.
func (s *Store) beginLocked(op Op) error {
	s.calls[op]++
	if err := s.fail[op]; err != nil {
		return fmt.Errorf("presencetest store %s: %w", op, err)
	}
	return nil
}

// Put implements store.SubscriptionStore.
func (s *Store) Put(_ context.Context, sub store.Subscription) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.beginLocked(OpPut); err != nil {
		return err
	}
	for id, other := range s.subs {
		if id != sub.ID && other.User == sub.User && other.Key == sub.Key {
			return fmt.Errorf("presencetest store: key %q of %s: %w", sub.Key, sub.User, store.ErrConflict)
		}
	}
	s.subs[sub.ID] = clone(sub)
	return nil
}

// Touch implements store.SubscriptionStore.
func (s *Store) Touch(_ context.Context, touches []store.Touch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.beginLocked(OpTouch); err != nil {
		return err
	}
	for _, t := range touches {
		if sub, ok := s.subs[t.ID]; ok {
			sub.ExpiresAt = t.ExpiresAt
			sub.Sequence = t.Sequence
			s.subs[t.ID] = sub
		}
	}
	return nil
}

// Delete implements store.SubscriptionStore.
func (s *Store) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.beginLocked(OpDelete); err != nil {
		return err
	}
	delete(s.subs, id)
	return nil
}

// List implements store.SubscriptionStore.
func (s *Store) List(_ context.Context) ([]store.Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.beginLocked(OpList); err != nil {
		return nil, err
	}
	out := make([]store.Subscription, 0, len(s.subs))
	for _, sub := range s.subs {
		out = append(out, clone(sub))
	}
	return out, nil
}

func clone(s store.Subscription) store.Subscription {
	s.Contacts = slices.Clone(s.Contacts)
	return s
}

// Want is one SetWanted call.
type Want struct {
	Contact string
	Wanted  bool
}

// Watches records the calls of presence.Watches.SetWanted. It is safe for
// concurrent use; the zero value is ready.
type Watches struct {
	mu     sync.Mutex
	calls  []Want          // guarded by mu
	wanted map[string]bool // guarded by mu
}

// SetWanted records the call. It never blocks.
func (w *Watches) SetWanted(contact string, wanted bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, Want{Contact: contact, Wanted: wanted})
	if w.wanted == nil {
		w.wanted = make(map[string]bool)
	}
	if wanted {
		w.wanted[contact] = true
	} else {
		delete(w.wanted, contact)
	}
}

// Calls returns every call so far, in order.
func (w *Watches) Calls() []Want {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.calls)
}

// Take returns the calls since the last Take (or since the start) and
// forgets them.
func (w *Watches) Take() []Want {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.calls
	w.calls = nil
	return out
}

// Wanted returns the contacts whose last call wanted them, sorted.
func (w *Watches) Wanted() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.wanted))
	for c := range w.wanted {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Call is one Watch or Unwatch call of Backend.
type Call struct {
	Op       string // "watch" or "unwatch"
	Endpoint string // the endpoint ID
	Contact  string
}

// Backend is a backend.Backend that records Watch and Unwatch calls and
// fails Watch for chosen contacts. It never reports presence by itself:
// tests call their sink directly. It is safe for concurrent use; the zero
// value is ready.
type Backend struct {
	mu      sync.Mutex
	calls   []Call                      // guarded by mu
	watched map[string]backend.Endpoint // guarded by mu: contact -> endpoint
	fail    map[string]error            // guarded by mu: contact -> Watch error
}

var _ backend.Backend = (*Backend)(nil)

// Run waits for ctx to be done.
func (b *Backend) Run(ctx context.Context, _ backend.Sink) error {
	<-ctx.Done()
	return nil
}

// FailWatch makes Watch of contact fail with err until called again with a
// nil err.
func (b *Backend) FailWatch(contact string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail == nil {
		b.fail = make(map[string]error)
	}
	if err == nil {
		delete(b.fail, contact)
		return
	}
	b.fail[contact] = err
}

// Watch records the call and fails if told to.
func (b *Backend) Watch(_ context.Context, ep backend.Endpoint, contact string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, Call{Op: "watch", Endpoint: ep.ID, Contact: contact})
	if err := b.fail[contact]; err != nil {
		return fmt.Errorf("presencetest watch %s: %w", contact, err)
	}
	if b.watched == nil {
		b.watched = make(map[string]backend.Endpoint)
	}
	b.watched[contact] = ep
	return nil
}

// Unwatch records the call.
func (b *Backend) Unwatch(_ context.Context, ep backend.Endpoint, contact string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, Call{Op: "unwatch", Endpoint: ep.ID, Contact: contact})
	if b.watched[contact] == ep {
		delete(b.watched, contact)
	}
	return nil
}

// Calls returns every call so far, in order.
func (b *Backend) Calls() []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

// Take returns the calls since the last Take (or since the start) and
// forgets them.
func (b *Backend) Take() []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.calls
	b.calls = nil
	return out
}

// Watched returns the contacts currently watched, each with its endpoint
// ID.
func (b *Backend) Watched() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]string, len(b.watched))
	for c, ep := range b.watched {
		out[c] = ep.ID
	}
	return out
}
