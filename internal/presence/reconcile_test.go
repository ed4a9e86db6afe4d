package presence

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/backend/backendtest"
	"github.com/presenced/presenced/internal/clock/clocktest"
	"github.com/presenced/presenced/internal/endpoint"
	"github.com/presenced/presenced/internal/presence/presencetest"
	"github.com/presenced/presenced/internal/status"
)

type recEnv struct {
	clk  *clocktest.Clock
	be   *presencetest.Backend
	pool *endpoint.Pool
	sink *backendtest.Recorder
	r    *Reconciler
}

func newRecEnv(tb testing.TB, endpoints, max int) *recEnv {
	tb.Helper()
	var ids []string
	for i := range endpoints {
		ids = append(ids, fmt.Sprintf("ep%d", i))
	}
	pool, err := endpoint.New(ids, max, nil)
	if err != nil {
		tb.Fatal(err)
	}
	e := &recEnv{clk: clocktest.New(t0), be: &presencetest.Backend{}, pool: pool, sink: backendtest.NewRecorder()}
	e.r = NewReconciler(e.be, pool, e.sink, e.clk, discard())
	return e
}

func (e *recEnv) want(wanted bool, contacts ...string) {
	for _, c := range contacts {
		e.r.SetWanted(c, wanted)
	}
}

// updates returns the sink's updates since mark *from and moves the mark.
func (e *recEnv) updates(from *int) []backendtest.Update {
	u := e.sink.From(*from)
	*from = e.sink.Len()
	return u
}

func watch(ep, c string) presencetest.Call {
	return presencetest.Call{Op: "watch", Endpoint: ep, Contact: c}
}
func unwatch(ep, c string) presencetest.Call {
	return presencetest.Call{Op: "unwatch", Endpoint: ep, Contact: c}
}

func upd(c string, r status.Reason) backendtest.Update {
	return backendtest.Update{Contact: c, Presence: status.UnknownBecause(r)}
}

func usage(used ...int) []endpoint.Usage {
	var out []endpoint.Usage
	for i, u := range used {
		out = append(out, endpoint.Usage{ID: fmt.Sprintf("ep%d", i), Max: 2, Used: u})
	}
	return out
}

func TestReconcilerFillFirst(t *testing.T) {
	e := newRecEnv(t, 3, 2)
	mark := 0
	e.want(true, "c1", "c2", "c3", "c4", "c5", "c6", "c7")
	e.r.Reconcile(bg)
	diff(t, "placement", []presencetest.Call{
		watch("ep0", "c1"), watch("ep0", "c2"),
		watch("ep1", "c3"), watch("ep1", "c4"),
		watch("ep2", "c5"), watch("ep2", "c6"),
	}, e.be.Take())
	diff(t, "updates", []backendtest.Update{upd("c7", status.NoCapacity)}, e.updates(&mark))
	diff(t, "usage", usage(2, 2, 2), e.pool.Usage())
	if e.r.Placed() != 6 || e.r.Waiting() != 1 {
		t.Errorf("Placed %d Waiting %d, want 6 and 1", e.r.Placed(), e.r.Waiting())
	}

	// Releasing one watch places the waiting contact in the freed slot.
	e.want(false, "c3")
	e.r.Reconcile(bg)
	diff(t, "after release", []presencetest.Call{unwatch("ep1", "c3"), watch("ep1", "c7")}, e.be.Take())
	diff(t, "updates after release", []backendtest.Update(nil), e.updates(&mark))
	if e.r.Placed() != 6 || e.r.Waiting() != 0 {
		t.Errorf("Placed %d Waiting %d, want 6 and 0", e.r.Placed(), e.r.Waiting())
	}

	// Freed slots are reused first-fit.
	e.want(false, "c5", "c1")
	e.want(true, "c8", "c9")
	e.r.Reconcile(bg)
	diff(t, "first-fit reuse", []presencetest.Call{
		unwatch("ep2", "c5"), unwatch("ep0", "c1"), watch("ep0", "c8"), watch("ep2", "c9"),
	}, e.be.Take())
	diff(t, "watched", map[string]string{"c2": "ep0", "c8": "ep0", "c4": "ep1", "c7": "ep1", "c6": "ep2", "c9": "ep2"}, e.be.Watched())
	diff(t, "usage at the end", usage(2, 2, 2), e.pool.Usage())
}

func TestReconcilerWaitingQueue(t *testing.T) {
	t.Run("placed in order as room frees", func(t *testing.T) {
		e := newRecEnv(t, 1, 1)
		mark := 0
		e.want(true, "a", "b", "c", "d")
		e.r.Reconcile(bg)
		diff(t, "updates", []backendtest.Update{upd("b", status.NoCapacity), upd("c", status.NoCapacity), upd("d", status.NoCapacity)}, e.updates(&mark))
		for _, next := range []struct{ release, place string }{{"a", "b"}, {"b", "c"}, {"c", "d"}} {
			e.be.Take()
			e.want(false, next.release)
			e.r.Reconcile(bg)
			diff(t, "release "+next.release, []presencetest.Call{unwatch("ep0", next.release), watch("ep0", next.place)}, e.be.Take())
		}
		if e.r.Waiting() != 0 {
			t.Errorf("Waiting = %d, want 0", e.r.Waiting())
		}
	})
	t.Run("unwanted waiting contacts leave the queue", func(t *testing.T) {
		e := newRecEnv(t, 1, 1)
		e.want(true, "a", "b", "c")
		e.r.Reconcile(bg)
		e.want(false, "b")
		e.r.Reconcile(bg)
		if got := e.r.Waiting(); got != 1 {
			t.Errorf("Waiting = %d, want 1", got)
		}
	})
	t.Run("a freed slot is not lost to an unwanted head of the queue", func(t *testing.T) {
		e := newRecEnv(t, 1, 1)
		e.want(true, "a", "b", "c")
		e.r.Reconcile(bg)
		e.be.Take()
		e.want(false, "a", "b")
		e.r.Reconcile(bg)
		diff(t, "calls", []presencetest.Call{unwatch("ep0", "a"), watch("ep0", "c")}, e.be.Take())
		if e.r.Waiting() != 0 || e.r.Placed() != 1 {
			t.Errorf("Waiting %d Placed %d, want 0 and 1", e.r.Waiting(), e.r.Placed())
		}
	})
}

func TestReconcilerWatchErrorRetries(t *testing.T) {
	e := newRecEnv(t, 1, 2)
	mark := 0
	e.be.FailWatch("a", presencetest.ErrInjected)
	e.want(true, "a")
	e.r.Reconcile(bg)
	diff(t, "calls", []presencetest.Call{watch("ep0", "a")}, e.be.Take())
	diff(t, "updates", []backendtest.Update{upd("a", status.BackendError)}, e.updates(&mark))
	if e.pool.Used() != 0 || e.r.Placed() != 0 {
		t.Fatalf("after a failed watch: pool used %d, placed %d; want the slot released", e.pool.Used(), e.r.Placed())
	}

	// Nothing happens before the backoff; the retries' delays grow within
	// [d/2, d] for d = 500ms, 1s, 2s.
	for i, d := range []time.Duration{retryBase, 2 * retryBase, 4 * retryBase} {
		e.r.Reconcile(bg)
		e.clk.Advance(d/2 - time.Millisecond)
		e.r.Reconcile(bg)
		diff(t, fmt.Sprintf("before retry %d", i+1), []presencetest.Call(nil), e.be.Take())
		e.clk.Advance(d/2 + time.Millisecond)
		e.r.Reconcile(bg)
		diff(t, fmt.Sprintf("retry %d", i+1), []presencetest.Call{watch("ep0", "a")}, e.be.Take())
		if got := e.clk.Pending(); got != 1 {
			t.Fatalf("after retry %d: %d timers pending, want 1", i+1, got)
		}
	}
	e.be.FailWatch("a", nil)
	e.clk.Advance(retryMax)
	e.r.Reconcile(bg)
	diff(t, "successful retry", []presencetest.Call{watch("ep0", "a")}, e.be.Take())
	diff(t, "watched", map[string]string{"a": "ep0"}, e.be.Watched())
	if got := e.clk.Pending(); got != 0 {
		t.Errorf("%d timers pending after success, want 0", got)
	}
	diff(t, "updates", []backendtest.Update{
		upd("a", status.BackendError), upd("a", status.BackendError), upd("a", status.BackendError),
	}, e.updates(&mark))
}

func TestReconcilerFailedSlotGoesToTheNext(t *testing.T) {
	e := newRecEnv(t, 1, 1)
	mark := 0
	e.be.FailWatch("a", presencetest.ErrInjected)
	e.want(true, "a", "b")
	e.r.Reconcile(bg)
	diff(t, "calls", []presencetest.Call{watch("ep0", "a"), watch("ep0", "b")}, e.be.Take())
	diff(t, "updates", []backendtest.Update{upd("a", status.BackendError)}, e.updates(&mark))

	// a's retry finds no room and waits; it is placed when b goes.
	e.be.FailWatch("a", nil)
	e.clk.Advance(retryBase)
	e.r.Reconcile(bg)
	diff(t, "retry without room", []presencetest.Call(nil), e.be.Take())
	diff(t, "retry update", []backendtest.Update{upd("a", status.NoCapacity)}, e.updates(&mark))
	e.want(false, "b")
	e.r.Reconcile(bg)
	diff(t, "after b", []presencetest.Call{unwatch("ep0", "b"), watch("ep0", "a")}, e.be.Take())
}

func TestReconcilerRetryIsNotDuplicated(t *testing.T) {
	e := newRecEnv(t, 1, 1)
	e.be.FailWatch("a", presencetest.ErrInjected)
	e.want(true, "a")
	e.r.Reconcile(bg)
	e.want(true, "a") // the hub asks again during the backoff
	e.r.Reconcile(bg)
	if got := e.clk.Pending(); got != 1 {
		t.Fatalf("%d retry timers pending, want 1", got)
	}
	e.be.Take()
	e.clk.Advance(retryMax)
	e.r.Reconcile(bg)
	diff(t, "calls", []presencetest.Call{watch("ep0", "a")}, e.be.Take())
}

func TestReconcilerChurnCollapses(t *testing.T) {
	tests := []struct {
		name   string
		wishes []bool
		calls  []presencetest.Call
	}{
		{"want then unwant", []bool{true, false}, nil},
		{"unwant only", []bool{false}, nil},
		{"flapping ends wanted", []bool{true, false, true, false, true}, []presencetest.Call{watch("ep0", "a")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRecEnv(t, 1, 1)
			for _, w := range tt.wishes {
				e.r.SetWanted("a", w)
			}
			e.r.Reconcile(bg)
			diff(t, "calls", tt.calls, e.be.Take())
			if e.sink.Len() != 0 {
				t.Errorf("sink got %v", e.sink.From(0))
			}
		})
	}
}

func TestReconcilerUnwantCancelsRetry(t *testing.T) {
	e := newRecEnv(t, 1, 1)
	e.be.FailWatch("a", presencetest.ErrInjected)
	e.want(true, "a")
	e.r.Reconcile(bg)
	e.want(false, "a")
	e.r.Reconcile(bg)
	if got := e.clk.Pending(); got != 0 {
		t.Errorf("%d timers pending, want the retry cancelled", got)
	}
	e.be.Take()
	e.clk.Advance(retryMax)
	e.r.Reconcile(bg)
	diff(t, "calls", []presencetest.Call(nil), e.be.Take())
}

func TestReconcilerRunStopsAndUnwatches(t *testing.T) {
	e := newRecEnv(t, 2, 1)
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() { done <- e.r.Run(ctx) }()
	e.want(true, "a", "b")
	deadline := time.Now().Add(10 * time.Second)
	for e.r.Placed() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("Run placed %d of 2 contacts", e.r.Placed())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	diff(t, "watched after stop", map[string]string{}, e.be.Watched())
	if e.pool.Used() != 0 || e.r.Placed() != 0 {
		t.Errorf("after stop: pool used %d, placed %d", e.pool.Used(), e.r.Placed())
	}
}

// The Hub and the Reconciler wired as in the application.
func TestHubWithReconciler(t *testing.T) {
	pool, err := endpoint.New([]string{"ep0"}, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(t0)
	be := &presencetest.Backend{}
	r := NewReconciler(be, pool, nil, clk, discard())
	h, err := New(testConfig(), clk, r, presencetest.NewStore(), nil, discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetSink(h)

	v, _, err := h.Subscribe(bg, SubscribeRequest{User: "alice", Contacts: []string{"a@x.com", "b@x.com", "c@x.com"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Reconcile(bg)
	h.Update("a@x.com", available) // as the backend would, once watching
	got, err := h.Get("alice", v.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "presence", []ContactPresence{cp("a@x.com", available), cp("b@x.com", pending), cp("c@x.com", status.UnknownBecause(status.NoCapacity))}, got.Presence)

	if _, err := h.Patch(bg, "alice", v.ID, nil, []string{"a@x.com"}); err != nil {
		t.Fatal(err)
	}
	r.Reconcile(bg)
	diff(t, "calls", []presencetest.Call{watch("ep0", "a@x.com"), watch("ep0", "b@x.com"), unwatch("ep0", "a@x.com"), watch("ep0", "c@x.com")}, be.Calls())
	h.Update("c@x.com", busy)
	got, err = h.Get("alice", v.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "presence after room freed", []ContactPresence{cp("b@x.com", pending), cp("c@x.com", busy)}, got.Presence)
}
