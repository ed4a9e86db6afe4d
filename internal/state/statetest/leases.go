package statetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/presenced/presenced/internal/state"
)

// leaseOp is one step of a lease scenario.
type leaseOp int

const (
	// acquire: Acquire(name, owner, TTL) must report ok.
	acquire leaseOp = iota
	// release: Release(name, owner) must succeed.
	release
	// owner: Owner(name) must return owner, or ErrNotFound when owner is "".
	owner
	// advance: time moves by quarters*TTL/4.
	advance
)

// leaseStep is one step of a lease scenario; fields not used by op are
// zero.
type leaseStep struct {
	op          leaseOp
	name, owner string
	ok          bool // acquire
	quarters    int  // advance
}

func (st leaseStep) String() string {
	switch st.op {
	case acquire:
		return fmt.Sprintf("Acquire(%q, %q) want %v", st.name, st.owner, st.ok)
	case release:
		return fmt.Sprintf("Release(%q, %q)", st.name, st.owner)
	case owner:
		return fmt.Sprintf("Owner(%q) want %q", st.name, st.owner)
	default:
		return fmt.Sprintf("Advance(%d/4 TTL)", st.quarters)
	}
}

// Step constructors, to keep scenarios readable.

// acq is Acquire(name, who) reporting ok.
func acq(name, who string, ok bool) leaseStep {
	return leaseStep{op: acquire, name: name, owner: who, ok: ok}
}

// rel is Release(name, who).
func rel(name, who string) leaseStep { return leaseStep{op: release, name: name, owner: who} }

// own is Owner(name) returning want.
func own(name, want string) leaseStep { return leaseStep{op: owner, name: name, owner: want} }

// nobody is Owner(name) returning ErrNotFound.
func nobody(name string) leaseStep { return own(name, "") }

// elapse advances time by quarters of TTL.
func elapse(quarters int) leaseStep { return leaseStep{op: advance, quarters: quarters} }

// acqAll is a successful Acquire(name, who) confirmed by Owner.
func acqAll(name, who string) []leaseStep { return []leaseStep{acq(name, who, true), own(name, who)} }

func (s *suite) testLeases(t *testing.T) {
	tests := []struct {
		name  string
		steps []leaseStep
	}{
		{"never held", []leaseStep{nobody("ep1"), rel("ep1", "a"), nobody("ep1")}},
		{"acquire", acqAll("ep1", "a")},
		{"renew by the same owner", []leaseStep{
			acq("ep1", "a", true), elapse(3), acq("ep1", "a", true),
			// 1.5 TTL after the first Acquire, 0.75 after the renewal.
			elapse(3), own("ep1", "a"), elapse(2), nobody("ep1"),
		}},
		{"refused to another owner", []leaseStep{
			acq("ep1", "a", true), acq("ep1", "b", false), own("ep1", "a"),
			elapse(3), acq("ep1", "b", false), own("ep1", "a"),
			// b's refused attempts took nothing: the lease expires on a's time.
			elapse(2), nobody("ep1"),
		}},
		{"taken over after expiry", []leaseStep{
			acq("ep1", "a", true), elapse(5), nobody("ep1"),
			acq("ep1", "b", true), own("ep1", "b"), acq("ep1", "a", false), own("ep1", "b"),
		}},
		{"release", []leaseStep{
			acq("ep1", "a", true), rel("ep1", "a"), nobody("ep1"),
			acq("ep1", "b", true), own("ep1", "b"),
		}},
		{"release twice", []leaseStep{acq("ep1", "a", true), rel("ep1", "a"), rel("ep1", "a"), nobody("ep1")}},
		{"release by a non-owner is a no-op", []leaseStep{
			acq("ep1", "a", true), rel("ep1", "b"), own("ep1", "a"), acq("ep1", "b", false),
		}},
		{"old owner cannot release a taken-over lease", []leaseStep{
			acq("ep1", "a", true), elapse(5), acq("ep1", "b", true), rel("ep1", "a"), own("ep1", "b"),
		}},
		{"release after expiry", []leaseStep{
			acq("ep1", "a", true), elapse(5), rel("ep1", "a"), nobody("ep1"), acq("ep1", "a", true),
		}},
		{"reacquire after expiry by the same owner", []leaseStep{
			acq("ep1", "a", true), elapse(5), acq("ep1", "a", true), elapse(3), own("ep1", "a"),
		}},
		{"names are independent", []leaseStep{
			acq("ep1", "a", true), acq("ep2", "b", true), acq("ep1", "b", false), acq("ep2", "a", false),
			rel("ep1", "a"), own("ep2", "b"), nobody("ep1"), acq("", "c", true), own("", "c"), own("ep2", "b"),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, advancer := s.open(t)
			s.runLeaseSteps(t, st.Leases(), advancer, tc.steps)
		})
	}
}

// runLeaseSteps performs steps in order, failing t at the first step that
// does not behave.
func (s *suite) runLeaseSteps(t *testing.T, l state.Leases, a Advancer, steps []leaseStep) {
	t.Helper()
	ctx := t.Context()
	for i, step := range steps {
		switch step.op {
		case acquire:
			ok, err := l.Acquire(ctx, step.name, step.owner, s.opts.TTL)
			if err != nil || ok != step.ok {
				t.Fatalf("step %d %v: got %v, %v", i, step, ok, err)
			}
		case release:
			if err := l.Release(ctx, step.name, step.owner); err != nil {
				t.Fatalf("step %d %v: %v", i, step, err)
			}
		case owner:
			got, err := l.Owner(ctx, step.name)
			if step.owner == "" {
				if !errors.Is(err, state.ErrNotFound) {
					t.Fatalf("step %d Owner(%q) = %q, %v; want ErrNotFound", i, step.name, got, err)
				}
			} else if err != nil || got != step.owner {
				t.Fatalf("step %d %v: got %q, %v", i, step, got, err)
			}
		case advance:
			a.Advance(s.ttlFrac(step.quarters, 4))
		}
	}
}
