package native_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/backend/backendtest"
	"github.com/presenced/presenced/internal/backend/native"
	"github.com/presenced/presenced/internal/clock/clocktest"
	"github.com/presenced/presenced/internal/state"
	"github.com/presenced/presenced/internal/state/memory"
	"github.com/presenced/presenced/internal/status"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// start is the manual clock's initial time; its sub-millisecond part and
// zone check that Publish truncates and normalises Since.
var start = time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))

var eps = []backend.Endpoint{{Index: 0, ID: "ep0"}, {Index: 1, ID: "ep1"}, {Index: 2, ID: "ep2"}}

// waitTimeout bounds each wait for a goroutine; it is never reached when
// the tests pass.
const waitTimeout = 10 * time.Second

func TestConformance(t *testing.T) {
	for _, preserves := range []bool{true, false} {
		t.Run(fmt.Sprintf("PreservesSince=%v", preserves), func(t *testing.T) {
			backendtest.Run(t, func(t *testing.T) backendtest.Harness {
				b := native.New(newState(t, clocktest.New(start)), clocktest.New(start), 0, nil)
				return backendtest.Harness{
					Backend:        b,
					Endpoints:      eps,
					SetPresence:    b.Publish,
					Contact:        func(i int) string { return fmt.Sprintf("user%d@example.com", i) },
					Timeout:        waitTimeout,
					PreservesSince: preserves,
				}
			})
		})
	}
}

// newState returns a memory State closed at the end of the test (after the
// backends registered later have stopped).
func newState(t *testing.T, clk *clocktest.Clock) *memory.State {
	t.Helper()
	st := memory.New(clk)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("closing the state: %v", err)
		}
	})
	return st
}

// run runs b until the end of the test and returns what it reports.
func run(t *testing.T, b *native.Backend) *backendtest.Recorder {
	t.Helper()
	rec := backendtest.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, rec) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancellation", err)
		}
	})
	return rec
}

// watch watches contact through ep, retrying while Run is starting.
func watch(t *testing.T, b *native.Backend, ep backend.Endpoint, contact string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		err := b.Watch(t.Context(), ep, contact)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Watch(%v, %s): %v", ep, contact, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitFor waits for an update of contact at mark from or later with
// availability a, and returns the mark after it.
func waitFor(t *testing.T, rec *backendtest.Recorder, from int, contact string, a status.Availability) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	_, mark, err := rec.Wait(ctx, from, func(u backendtest.Update) bool {
		return u.Contact == contact && u.Presence.Availability == a
	})
	if err != nil {
		t.Fatalf("waiting for %s to be %v: %v; got %+v", contact, a, err, rec.From(from))
	}
	return mark + 1
}

func publish(t *testing.T, b *native.Backend, user string, p status.Presence) {
	t.Helper()
	if err := b.Publish(t.Context(), user, p); err != nil {
		t.Fatalf("Publish(%s, %+v): %v", user, p, err)
	}
}

func TestUnpublishedUserIsOffline(t *testing.T) {
	clk := clocktest.New(start)
	b := native.New(newState(t, clk), clk, 0, nil)
	rec := run(t, b)
	const x = "nobody@example.com"

	got, err := b.Fetch(t.Context(), x)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	want := status.Presence{Availability: status.Offline}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Fetch (-want +got):\n%s", diff)
	}
	watch(t, b, eps[0], x)
	waitFor(t, rec, 0, x, status.Offline)
	if diff := cmp.Diff([]backendtest.Update{{Contact: x, Presence: want}}, rec.From(0)); diff != "" {
		t.Errorf("updates after Watch (-want +got):\n%s", diff)
	}
}

func TestPublishSince(t *testing.T) {
	given := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name string
		p    status.Presence
		want status.Presence
	}{
		{
			name: "unset Since is now, in UTC, to the millisecond",
			p:    status.Presence{Availability: status.Busy, Note: "n"},
			want: status.Presence{Availability: status.Busy, Note: "n", Since: time.Date(2026, 11, 23, 9, 0, 0, 123000000, time.UTC)},
		},
		{
			name: "Since given is kept",
			p:    status.Presence{Availability: status.Away, Since: given},
			want: status.Presence{Availability: status.Away, Since: given},
		},
		{
			name: "a Reason is dropped",
			p:    status.Presence{Availability: status.Available, Reason: status.BackendError, Since: given},
			want: status.Presence{Availability: status.Available, Since: given},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktest.New(start)
			b := native.New(newState(t, clk), clk, 0, nil)
			rec := run(t, b)
			const x = "alice@example.com"
			watch(t, b, eps[0], x)
			mark := waitFor(t, rec, 0, x, status.Offline)

			publish(t, b, x, tt.p)
			got, err := b.Fetch(t.Context(), x)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Fetch (-want +got):\n%s", diff)
			}
			waitFor(t, rec, mark, x, tt.want.Availability)
			if diff := cmp.Diff([]backendtest.Update{{Contact: x, Presence: tt.want}}, rec.From(mark)); diff != "" {
				t.Errorf("reported (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSharedStateReachesOtherInstance: a publication through one Backend
// reaches a watch held by another Backend over the same State, and only
// the Backend watching the user reports it.
func TestSharedStateReachesOtherInstance(t *testing.T) {
	clk := clocktest.New(start)
	st := newState(t, clk)
	a, b := native.New(st, clk, 0, nil), native.New(st, clk, 0, nil)
	recA, recB := run(t, a), run(t, b)
	const x, y = "x@example.com", "y@example.com"
	watch(t, b, eps[0], x)
	watch(t, a, eps[0], y)
	markB := waitFor(t, recB, 0, x, status.Offline)
	markA := waitFor(t, recA, 0, y, status.Offline)

	want := status.Presence{Availability: status.Busy, Note: "from a", Activity: "InAMeeting", Since: start}
	publish(t, a, x, want)
	publish(t, a, y, status.Presence{Availability: status.Away, Since: start})

	waitFor(t, recB, markB, x, status.Busy)
	if diff := cmp.Diff([]backendtest.Update{{Contact: x, Presence: want}}, recB.From(markB)); diff != "" {
		t.Errorf("reported by the other instance (-want +got):\n%s", diff)
	}
	// a's own publications reach a in order: once y's is reported, x's
	// would have been if a wrongly reported unwatched users.
	end := waitFor(t, recA, markA, y, status.Away)
	for _, u := range recA.From(markA)[:end-markA] {
		if u.Contact == x {
			t.Errorf("the publishing instance reported %s, which it does not watch: %+v", x, u.Presence)
		}
	}
}

func TestWatching(t *testing.T) {
	clk := clocktest.New(start)
	b := native.New(newState(t, clk), clk, 0, nil)
	run(t, b)
	ctx := t.Context()
	const x, y = "x@example.com", "y@example.com"
	watch(t, b, eps[0], x) // waits for Run to serve
	steps := []struct {
		name string
		do   func() error
		want map[string][]int
	}{
		{"watch x through ep2", func() error { return b.Watch(ctx, eps[2], x) }, map[string][]int{x: {0, 2}}},
		{"watch y through ep1", func() error { return b.Watch(ctx, eps[1], y) }, map[string][]int{x: {0, 2}, y: {1}}},
		{"watch x through ep2 again", func() error { return b.Watch(ctx, eps[2], x) }, map[string][]int{x: {0, 2}, y: {1}}},
		{"unwatch x through ep0", func() error { return b.Unwatch(ctx, eps[0], x) }, map[string][]int{x: {2}, y: {1}}},
		{"unwatch y through ep0, not watching it", func() error { return b.Unwatch(ctx, eps[0], y) }, map[string][]int{x: {2}, y: {1}}},
		{"unwatch x through ep2", func() error { return b.Unwatch(ctx, eps[2], x) }, map[string][]int{y: {1}}},
		{"unwatch y through ep1", func() error { return b.Unwatch(ctx, eps[1], y) }, map[string][]int{}},
	}
	for _, step := range steps {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if diff := cmp.Diff(step.want, b.Watching()); diff != "" {
			t.Errorf("after %s, Watching (-want +got):\n%s", step.name, diff)
		}
	}
}

// TestRunEndsWatches: when Run returns its watches are gone, and a new Run
// starts afresh.
func TestRunEndsWatches(t *testing.T) {
	clk := clocktest.New(start)
	b := native.New(newState(t, clk), clk, 0, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, backendtest.NewRecorder()) }()
	watch(t, b, eps[1], "x@example.com")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after cancellation", err)
	}
	if diff := cmp.Diff(map[string][]int{}, b.Watching()); diff != "" {
		t.Errorf("after Run returned, Watching (-want +got):\n%s", diff)
	}
	if err := b.Watch(t.Context(), eps[0], "x@example.com"); err == nil {
		t.Error("Watch after Run returned = nil, want an error")
	}

	rec := run(t, b)
	watch(t, b, eps[0], "y@example.com")
	waitFor(t, rec, 0, "y@example.com", status.Offline)
}

func TestMalformedBusMessagesIgnored(t *testing.T) {
	clk := clocktest.New(start)
	st := newState(t, clk)
	b := native.New(st, clk, 0, nil)
	rec := run(t, b)
	const x = "x@example.com"
	watch(t, b, eps[0], x)
	mark := waitFor(t, rec, 0, x, status.Offline)

	for _, payload := range []string{
		``,
		`not json`,
		`null`,
		`{"user":"x@example.com","a":"Busy"}`,
		`{"user":"x@example.com","a":200}`,
		`{"user":"x@example.com","a":2,"since":"yesterday"}`,
		`{"a":2}`,
		`["x@example.com",2]`,
	} {
		if err := st.Bus().Publish(t.Context(), native.Topic, []byte(payload)); err != nil {
			t.Fatalf("publishing %q: %v", payload, err)
		}
	}
	// Bus messages from one goroutine arrive in order: once the valid
	// publication is reported, every bad one has been handled.
	want := status.Presence{Availability: status.Away, Note: "valid", Since: start.UTC()}
	publish(t, b, x, want)
	waitFor(t, rec, mark, x, status.Away)
	if diff := cmp.Diff([]backendtest.Update{{Contact: x, Presence: want}}, rec.From(mark)); diff != "" {
		t.Errorf("reported after bad messages (-want +got):\n%s", diff)
	}
}

func TestPublicationExpires(t *testing.T) {
	const ttl = time.Minute
	clk := clocktest.New(start)
	b := native.New(newState(t, clk), clk, ttl, nil)
	const x = "x@example.com"
	published := status.Presence{Availability: status.Busy, Note: "n", Since: start.UTC()}
	publish(t, b, x, published)

	offline := status.Presence{Availability: status.Offline}
	steps := []struct {
		advance time.Duration
		want    status.Presence
	}{
		{0, published},
		{ttl - time.Millisecond, published},
		{time.Millisecond, offline},
		{time.Hour, offline},
	}
	for _, step := range steps {
		clk.Advance(step.advance)
		got, err := b.Fetch(t.Context(), x)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if diff := cmp.Diff(step.want, got); diff != "" {
			t.Errorf("Fetch at %v after publishing (-want +got):\n%s", clk.Now().Sub(start), diff)
		}
	}

	// Publishing again renews.
	publish(t, b, x, published)
	clk.Advance(ttl / 2)
	if got, err := b.Fetch(t.Context(), x); err != nil || !got.Equal(published) {
		t.Errorf("Fetch after republishing = %+v, %v; want %+v", got, err, published)
	}
}

func TestWatchOutsideRun(t *testing.T) {
	clk := clocktest.New(start)
	b := native.New(newState(t, clk), clk, 0, nil)
	if err := b.Watch(t.Context(), eps[0], "x@example.com"); err == nil {
		t.Error("Watch before Run = nil, want an error")
	}
	if diff := cmp.Diff(map[string][]int{}, b.Watching()); diff != "" {
		t.Errorf("a failed Watch left a watch (-want +got):\n%s", diff)
	}
}

func TestRunTwice(t *testing.T) {
	clk := clocktest.New(start)
	b := native.New(newState(t, clk), clk, 0, nil)
	run(t, b)
	watch(t, b, eps[0], "x@example.com") // the first Run is serving
	// Bounded so that a second Run that wrongly runs fails the test rather
	// than hanging it.
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := b.Run(ctx, backendtest.NewRecorder()); err == nil {
		t.Error("a second concurrent Run = nil, want an error")
	}
}

func TestRunCancelledBeforeStart(t *testing.T) {
	clk := clocktest.New(start)
	b := native.New(newState(t, clk), clk, 0, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Run(ctx, backendtest.NewRecorder()); err != nil {
		t.Errorf("Run with a cancelled context = %v, want nil", err)
	}
}

// TestClosedState: every ability reports the state's failure.
func TestClosedState(t *testing.T) {
	clk := clocktest.New(start)
	st := memory.New(clk)
	b := native.New(st, clk, 0, nil)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	calls := map[string]func() error{
		"Healthy": func() error { return b.Healthy(ctx) },
		"Publish": func() error { return b.Publish(ctx, "x@example.com", status.Presence{Availability: status.Busy}) },
		"Fetch":   func() error { _, err := b.Fetch(ctx, "x@example.com"); return err },
		"Run":     func() error { return b.Run(ctx, backendtest.NewRecorder()) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, state.ErrClosed) {
			t.Errorf("%s on a closed state = %v, want an error wrapping %v", name, err, state.ErrClosed)
		}
	}
}

// hookState runs afterGet after each presence read.
type hookState struct {
	state.State
	afterGet func(user string)
}

func (s hookState) Presence() state.PresenceStore {
	return hookPresence{PresenceStore: s.State.Presence(), afterGet: s.afterGet}
}

type hookPresence struct {
	state.PresenceStore
	afterGet func(user string)
}

func (p hookPresence) Get(ctx context.Context, user string) (status.Presence, error) {
	v, err := p.PresenceStore.Get(ctx, user)
	p.afterGet(user)
	return v, err
}

// TestPublicationDuringWatch: a publication made while Watch reads the
// store is reported, and the older value Watch read is not reported
// after it.
func TestPublicationDuringWatch(t *testing.T) {
	clk := clocktest.New(start)
	st := newState(t, clk)
	const x = "x@example.com"
	newer := status.Presence{Availability: status.Busy, Note: "newer", Since: start.UTC()}
	var b *native.Backend
	var rec *backendtest.Recorder
	hooked := false
	b = native.New(hookState{State: st, afterGet: func(user string) {
		if user != x || hooked {
			return
		}
		hooked = true // Get is called from the test goroutine only (Watch)
		publish(t, b, x, newer)
		waitFor(t, rec, 0, x, status.Busy)
	}}, clk, 0, nil)
	rec = run(t, b)
	watch(t, b, eps[0], "ready@example.com")
	mark := waitFor(t, rec, 0, "ready@example.com", status.Offline)

	watch(t, b, eps[0], x)
	if diff := cmp.Diff([]backendtest.Update{{Contact: x, Presence: newer}}, rec.From(mark)); diff != "" {
		t.Errorf("reported for a watch overtaken by a publication (-want +got):\n%s", diff)
	}
}

// silentBus is a state whose bus accepts messages and delivers none, like
// an overloaded one.
type silentBus struct {
	state.State
}

func (s silentBus) Bus() state.Bus { return silentBusBus{s.State.Bus()} }

type silentBusBus struct{ state.Bus }

func (silentBusBus) Publish(context.Context, string, []byte) error { return nil }

// TestLocalPublicationDoesNotDependOnTheBus: a publication reaches the
// watches of the publishing instance even when the bus loses it, and is
// reported exactly once (not again when the bus echoes it back).
func TestLocalPublicationDoesNotDependOnTheBus(t *testing.T) {
	clk := clocktest.New(start)
	for _, tt := range []struct {
		name string
		st   state.State
	}{
		{"silent bus", silentBus{newState(t, clk)}},
		{"working bus", newState(t, clk)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := native.New(tt.st, clk, 0, nil)
			rec := run(t, b)
			const x, y = "x@example.com", "y@example.com"
			watch(t, b, eps[0], x)
			watch(t, b, eps[0], y)
			mark := waitFor(t, rec, 0, x, status.Offline)
			mark = max(mark, waitFor(t, rec, 0, y, status.Offline))
			publish(t, b, x, status.Presence{Availability: status.Busy, Since: start})
			publish(t, b, y, status.Presence{Availability: status.Away, Since: start})
			end := waitFor(t, rec, mark, y, status.Away)
			// Give a bus echo of x's publication the time y's took.
			publish(t, b, y, status.Presence{Availability: status.Busy, Since: start})
			end = waitFor(t, rec, end, y, status.Busy)
			n := 0
			for _, u := range rec.From(mark)[:end-mark] {
				if u.Contact == x {
					n++
				}
			}
			if n != 1 {
				t.Errorf("x reported %d times, want once: %+v", n, rec.From(mark))
			}
		})
	}
}
