package statetest

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/state"
)

// recorder is a bus handler that records payloads and lets a test wait for
// them. It also notes whether it was ever called concurrently with itself.
type recorder struct {
	active  atomic.Int32
	overlap atomic.Bool

	mu      sync.Mutex
	got     []string      // guarded by mu
	changed chan struct{} // guarded by mu; closed and replaced on each record
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

// handle is the handler.
func (r *recorder) handle(payload []byte) {
	if r.active.Add(1) > 1 {
		r.overlap.Store(true)
	}
	defer r.active.Add(-1)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, string(payload))
	close(r.changed)
	r.changed = make(chan struct{})
}

// snapshot returns the payloads so far and a channel closed on the next.
func (r *recorder) snapshot() ([]string, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got), r.changed
}

// waitFor waits until the recorded payloads include every one of want and
// then returns all of them; it fails t when wait passes first.
func (r *recorder) waitFor(t *testing.T, wait time.Duration, want ...string) []string {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		got, changed := r.snapshot()
		if containsAll(got, want) {
			return got
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("after %v the handler has %q, still waiting for all of %q", wait, got, want)
		}
	}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// subscribe subscribes r to topic on b, unsubscribing when t ends.
func subscribe(t *testing.T, b state.Bus, topic string, r *recorder) (unsubscribe func()) {
	t.Helper()
	unsub, err := b.Subscribe(t.Context(), topic, r.handle)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", topic, err)
	}
	t.Cleanup(unsub)
	return unsub
}

// publish publishes each payload on topic through b, in order.
func publish(t *testing.T, b state.Bus, topic string, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		if err := b.Publish(t.Context(), topic, []byte(p)); err != nil {
			t.Fatalf("Publish(%q, %q): %v", topic, p, err)
		}
	}
}

// numbered returns n payloads prefix0, prefix1, ...
func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

func (s *suite) testBus(t *testing.T) {
	t.Run("FanOut", s.testBusFanOut)
	t.Run("Order", s.testBusOrder)
	t.Run("Payloads", s.testBusPayloads)
	t.Run("PublishCopies", s.testBusPublishCopies)
	t.Run("Unsubscribe", s.testBusUnsubscribe)
	t.Run("UnsubscribeWaitsForHandler", s.testBusUnsubscribeWaits)
	t.Run("TopicsIsolated", s.testBusTopics)
}

func (s *suite) testBusFanOut(t *testing.T) {
	st, _ := s.open(t)
	b := st.Bus()
	recs := []*recorder{newRecorder(), newRecorder(), newRecorder()}
	for _, r := range recs {
		subscribe(t, b, "events", r)
	}
	// Publishing with no subscriber on a topic is fine.
	publish(t, b, "nobody", "lost")
	publish(t, b, "events", "one", "two")
	for i, r := range recs {
		got := r.waitFor(t, s.opts.Wait, "two")
		if diff := cmp.Diff([]string{"one", "two"}, got); diff != "" {
			t.Errorf("subscription %d (-want +got):\n%s", i, diff)
		}
	}
}

func (s *suite) testBusOrder(t *testing.T) {
	st, _ := s.open(t)
	b := st.Bus()
	r := newRecorder()
	subscribe(t, b, "events", r)
	// Few enough that no sane implementation drops any.
	want := numbered("m", 100)
	publish(t, b, "events", want...)
	got := r.waitFor(t, s.opts.Wait, want[len(want)-1])
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delivery order (-want +got):\n%s", diff)
	}
}

func (s *suite) testBusPayloads(t *testing.T) {
	st, _ := s.open(t)
	b := st.Bus()
	r := newRecorder()
	subscribe(t, b, "events", r)
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i)
	}
	want := []string{"", "\x00\xff binary \r\n", string(big), "last"}
	if err := b.Publish(t.Context(), "events", nil); err != nil {
		t.Fatalf("Publish(nil): %v", err)
	}
	publish(t, b, "events", want[1:]...)
	got := r.waitFor(t, s.opts.Wait, "last")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payloads (-want +got):\n%s", diff)
	}
}

func (s *suite) testBusPublishCopies(t *testing.T) {
	st, _ := s.open(t)
	b := st.Bus()
	r := newRecorder()
	subscribe(t, b, "events", r)
	buf := []byte("original")
	if err := b.Publish(t.Context(), "events", buf); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	copy(buf, "OVERWRIT")
	publish(t, b, "events", "last")
	got := r.waitFor(t, s.opts.Wait, "last")
	if diff := cmp.Diff([]string{"original", "last"}, got); diff != "" {
		t.Errorf("payloads after reusing the buffer (-want +got):\n%s", diff)
	}
}

func (s *suite) testBusUnsubscribe(t *testing.T) {
	st, _ := s.open(t)
	b := st.Bus()
	gone, stays := newRecorder(), newRecorder()
	unsub := subscribe(t, b, "events", gone)
	subscribe(t, b, "events", stays)
	publish(t, b, "events", "before")
	gone.waitFor(t, s.opts.Wait, "before")
	unsub()
	unsub() // idempotent
	publish(t, b, "events", "after1", "after2")
	if diff := cmp.Diff([]string{"before", "after1", "after2"}, stays.waitFor(t, s.opts.Wait, "after2")); diff != "" {
		t.Errorf("remaining subscription (-want +got):\n%s", diff)
	}
	// The remaining subscription got everything, so the removed one would
	// have had its chance too.
	got, _ := gone.snapshot()
	if diff := cmp.Diff([]string{"before"}, got); diff != "" {
		t.Errorf("unsubscribed handler (-want +got):\n%s", diff)
	}

	// The topic works again for a new subscription.
	again := newRecorder()
	subscribe(t, b, "events", again)
	publish(t, b, "events", "new")
	if diff := cmp.Diff([]string{"new"}, again.waitFor(t, s.opts.Wait, "new")); diff != "" {
		t.Errorf("new subscription (-want +got):\n%s", diff)
	}
}

// testBusUnsubscribeWaits checks that unsubscribe returns only after a
// running handler call has returned.
func (s *suite) testBusUnsubscribeWaits(t *testing.T) {
	st, _ := s.open(t)
	b := st.Bus()
	bl := newBlocker()
	unsub, err := b.Subscribe(t.Context(), "events", bl.handle)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer unsub()
	publish(t, b, "events", "block")
	s.assertWaitsForHandler(t, bl, "unsubscribe", unsub)
}

// blocker is a handler whose first call blocks until the test releases it.
type blocker struct {
	once     sync.Once
	started  chan struct{} // closed when the first call has begun
	release  chan struct{} // closed by the test to let it return
	finished atomic.Bool   // set just before the first call returns
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}), release: make(chan struct{})}
}

func (bl *blocker) handle([]byte) {
	bl.once.Do(func() {
		close(bl.started)
		<-bl.release
		bl.finished.Store(true)
	})
}

// earlyReturnGrace is how long assertWaitsForHandler keeps a handler
// blocked to give a faulty stop the chance to return early. A correct
// implementation passes however the goroutines are scheduled; the grace
// only makes a faulty one likely to be caught.
const earlyReturnGrace = 50 * time.Millisecond

// assertWaitsForHandler calls stop (unsubscribe or Close) while bl's
// handler call is blocked, and checks that stop returns only after the
// call has.
func (s *suite) assertWaitsForHandler(t *testing.T, bl *blocker, what string, stop func()) {
	t.Helper()
	waitClosed(t, bl.started, s.opts.Wait, "handler start")
	done := make(chan struct{})
	go func() {
		defer close(done)
		stop()
	}()
	select {
	case <-done:
		close(bl.release)
		t.Fatalf("%s returned while the handler was blocked", what)
	case <-time.After(earlyReturnGrace):
	}
	close(bl.release)
	waitClosed(t, done, s.opts.Wait, what)
	if !bl.finished.Load() {
		t.Errorf("%s returned while the handler was still running", what)
	}
}

// waitClosed waits for ch to be closed, failing t after wait.
func waitClosed(t *testing.T, ch <-chan struct{}, wait time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatalf("%s did not happen within %v", what, wait)
	}
}

func (s *suite) testBusTopics(t *testing.T) {
	st, _ := s.open(t)
	b := st.Bus()
	topics := []string{"a", "b", "a.b", "A", "a*", ""}
	recs := make(map[string]*recorder)
	for _, topic := range topics {
		recs[topic] = newRecorder()
		subscribe(t, b, topic, recs[topic])
	}
	// Interleave messages to every topic, then end each topic with a
	// marker: a message wrongly delivered to a topic arrives before its
	// marker.
	const rounds = 3
	for i := range rounds {
		for _, topic := range topics {
			publish(t, b, topic, fmt.Sprintf("%d to %q", i, topic))
		}
	}
	for _, topic := range topics {
		publish(t, b, topic, fmt.Sprintf("end of %q", topic))
	}
	for _, topic := range topics {
		var want []string
		for i := range rounds {
			want = append(want, fmt.Sprintf("%d to %q", i, topic))
		}
		want = append(want, fmt.Sprintf("end of %q", topic))
		got := recs[topic].waitFor(t, s.opts.Wait, want[len(want)-1])
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("topic %q (-want +got):\n%s", topic, diff)
		}
	}
}
