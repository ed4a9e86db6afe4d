package memory

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/clock/clocktest"
	"github.com/presenced/presenced/internal/state"
	"github.com/presenced/presenced/internal/state/statetest"
	"github.com/presenced/presenced/internal/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// view is a second handle on a State standing in for a peer instance:
// closing it leaves the State open.
type view struct{ state.State }

func (view) Close() error { return nil }

func TestConformance(t *testing.T) {
	statetest.RunOptions(t, statetest.Options{
		Peer: func(_ *testing.T, st state.State) state.State { return view{st} },
	}, func(t *testing.T) (state.State, statetest.Advancer) {
		clk := clocktest.New(epoch)
		return New(clk), clk
	})
}

// TestSlowSubscriptionDrops checks that a full queue drops and counts
// messages instead of blocking the publisher, and that the subscription
// receives again once it catches up.
func TestSlowSubscriptionDrops(t *testing.T) {
	st := newState(clocktest.New(epoch), 2)
	defer st.Close()
	ctx := t.Context()

	started, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var got []string
	delivered := make(chan struct{}, 16)
	unsub, err := st.Bus().Subscribe(ctx, "events", func(p []byte) {
		if string(p) == "m0" {
			close(started)
			<-release
		}
		mu.Lock()
		got = append(got, string(p))
		mu.Unlock()
		delivered <- struct{}{}
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer unsub()

	publish := func(payloads ...string) {
		t.Helper()
		for _, p := range payloads {
			if err := st.Bus().Publish(ctx, "events", []byte(p)); err != nil {
				t.Fatalf("Publish(%s): %v", p, err)
			}
		}
	}
	publish("m0")
	<-started // the handler holds m0; the queue is empty
	publish("m1", "m2", "m3", "m4")
	if got := st.BusDropped(); got != 2 {
		t.Errorf("BusDropped with a full queue of 2 = %d, want 2", got)
	}
	close(release)
	for range 3 {
		<-delivered
	}
	publish("m5")
	<-delivered
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"m0", "m1", "m2", "m5"}, got); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if got := st.BusDropped(); got != 2 {
		t.Errorf("BusDropped after catching up = %d, want 2", got)
	}
}

// TestSweep checks that expired presences and leases nobody reads again
// are removed from memory.
func TestSweep(t *testing.T) {
	clk := clocktest.New(epoch)
	st := New(clk)
	defer st.Close()
	ctx := t.Context()
	p := status.Presence{Availability: status.Away}

	mustSet := func(user string, ttl time.Duration) {
		t.Helper()
		if err := st.Presence().Set(ctx, user, p, ttl); err != nil {
			t.Fatalf("Set(%s): %v", user, err)
		}
	}
	mustAcquire := func(name string, ttl time.Duration) {
		t.Helper()
		if ok, err := st.Leases().Acquire(ctx, name, "a", ttl); err != nil || !ok {
			t.Fatalf("Acquire(%s) = %v, %v", name, ok, err)
		}
	}
	mustSet("gone", time.Second)
	mustSet("kept", time.Hour)
	mustAcquire("gone", time.Second)
	mustAcquire("kept", time.Hour)

	clk.Advance(sweepInterval)
	mustSet("new", time.Hour)
	mustAcquire("new", time.Hour)

	if diff := cmp.Diff([]string{"kept", "new"}, keys(&st.presence.mu, st.presence.entries)); diff != "" {
		t.Errorf("presence entries after sweep (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"kept", "new"}, keys(&st.leases.mu, st.leases.entries)); diff != "" {
		t.Errorf("lease entries after sweep (-want +got):\n%s", diff)
	}
}

// keys returns the sorted keys of m, read under mu.
func keys[V any](mu *sync.Mutex, m map[string]V) []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
