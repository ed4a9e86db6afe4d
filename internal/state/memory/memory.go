// Package memory is the in-process implementation of state.State for a
// single presenced instance. Expiry reads an injected clock, and expired
// values are swept lazily, so the package starts no timers; the bus runs one
// goroutine per subscription.
package memory

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/state"
)

// sweepInterval is how often, at most, a map is scanned for expired
// entries. Reads check expiry exactly; the sweep only bounds memory held by
// users and leases nobody asks about again.
const sweepInterval = time.Minute

// defaultQueueSize is the number of messages a subscription buffers before
// the bus drops further messages for it.
const defaultQueueSize = 256

// State is an in-memory state.State. The zero value is not usable; call
// New.
type State struct {
	clk    clock.Clock
	closed atomic.Bool

	presence *presenceStore
	bus      *bus
	leases   *leases
}

var (
	_ state.State       = (*State)(nil)
	_ state.DropCounter = (*State)(nil)
)

// New returns an empty State whose time comes from clk.
func New(clk clock.Clock) *State {
	return newState(clk, defaultQueueSize)
}

func newState(clk clock.Clock, queueSize int) *State {
	s := &State{clk: clk}
	s.presence = &presenceStore{s: s, entries: make(map[string]presenceEntry)}
	s.bus = newBus(s, queueSize)
	s.leases = &leases{s: s, entries: make(map[string]lease)}
	return s
}

// Presence returns the presence store.
func (s *State) Presence() state.PresenceStore { return s.presence }

// Bus returns the message bus.
func (s *State) Bus() state.Bus { return s.bus }

// Leases returns the leases.
func (s *State) Leases() state.Leases { return s.leases }

// BusDropped returns the number of bus deliveries dropped because a
// subscription's queue was full.
func (s *State) BusDropped() uint64 { return s.bus.dropped.Load() }

// Close stops every subscription, waits for their goroutines and makes
// every later call fail with state.ErrClosed. It is idempotent.
func (s *State) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.bus.close()
	return nil
}

// check returns the error an operation op must fail with before doing
// anything: the State is closed or ctx is done.
func (s *State) check(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", op, state.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// sweeper decides when a map is due for a sweep of expired entries. It is
// guarded by the lock of the map it belongs to.
type sweeper struct {
	next time.Time
}

// due reports whether a sweep is due at now, and if so schedules the next.
func (w *sweeper) due(now time.Time) bool {
	if now.Before(w.next) {
		return false
	}
	w.next = now.Add(sweepInterval)
	return true
}
