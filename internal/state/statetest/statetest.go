// Package statetest is the conformance suite every state.State
// implementation passes. An implementation's tests call Run (or
// RunOptions) with a constructor of fresh, empty States.
//
// Time in the suite moves only through the Advancer the constructor
// returns, in fractions and small multiples of Options.TTL, so the suite
// suits both a manual clock (memory) and real time with short TTLs (Redis).
// Bus deliveries are awaited with a deadline, never slept for.
package statetest

import (
	"testing"
	"time"

	"github.com/presenced/presenced/internal/state"
)

// Advancer moves the time a State sees. A manual clock advances at once; an
// implementation on real time waits d.
type Advancer interface {
	Advance(d time.Duration)
}

// Options tune the suite to an implementation. The zero value suits an
// implementation on a manual clock.
type Options struct {
	// TTL is the lifetime the suite gives presences and leases; it
	// advances time by fractions (down to TTL/4) and small multiples of
	// it. An implementation that really waits passes a short TTL that its
	// expiry still resolves well. Default 10s.
	TTL time.Duration
	// Wait bounds how long the suite waits for an expected bus delivery
	// before failing. Default 10s.
	Wait time.Duration
	// Peer, when set, returns another State backed by the same shared
	// data as st, as a second presenced instance would be. The suite then
	// checks that presences, bus messages and leases cross instances. The
	// suite closes the peer. Leave nil for process-local implementations.
	Peer func(t *testing.T, st state.State) state.State
}

// Run runs the suite with default Options. newState must return an empty
// State independent of every other it returned, and the Advancer that moves
// its time; the suite closes the State.
func Run(t *testing.T, newState func(t *testing.T) (state.State, Advancer)) {
	t.Helper()
	RunOptions(t, Options{}, newState)
}

// RunOptions runs the suite with opts; see Run.
func RunOptions(t *testing.T, opts Options, newState func(t *testing.T) (state.State, Advancer)) {
	t.Helper()
	if opts.TTL <= 0 {
		opts.TTL = 10 * time.Second
	}
	if opts.Wait <= 0 {
		opts.Wait = 10 * time.Second
	}
	s := &suite{opts: opts, newState: newState}
	t.Run("Presence", s.testPresence)
	t.Run("Bus", s.testBus)
	t.Run("Leases", s.testLeases)
	t.Run("Concurrent", s.testConcurrent)
	t.Run("Errors", s.testErrors)
	t.Run("Close", s.testClose)
	if opts.Peer != nil {
		t.Run("Peers", s.testPeers)
	}
}

// suite carries the options and constructor to every test.
type suite struct {
	opts     Options
	newState func(t *testing.T) (state.State, Advancer)
}

// open returns a fresh State that is closed when t ends.
func (s *suite) open(t *testing.T) (state.State, Advancer) {
	t.Helper()
	st, adv := s.newState(t)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st, adv
}

// peer returns a second instance sharing st's data, closed when t ends.
func (s *suite) peer(t *testing.T, st state.State) state.State {
	t.Helper()
	p := s.opts.Peer(t, st)
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("peer Close: %v", err)
		}
	})
	return p
}

// ttlFrac returns TTL*num/den.
func (s *suite) ttlFrac(num, den int) time.Duration {
	return s.opts.TTL * time.Duration(num) / time.Duration(den)
}
