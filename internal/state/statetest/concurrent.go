package statetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/status"
)

// workers is the number of goroutines each concurrent test runs.
const workers = 8

// parallel runs f(i) for i in [0, n) on n goroutines and waits for them.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

func (s *suite) testConcurrent(t *testing.T) {
	t.Run("Presence", s.testConcurrentPresence)
	t.Run("Leases", s.testConcurrentLeases)
	t.Run("Bus", s.testConcurrentBus)
	t.Run("SubscribeWhilePublishing", s.testConcurrentSubscribe)
}

func (s *suite) testConcurrentPresence(t *testing.T) {
	st, _ := s.open(t)
	ps := st.Presence()
	const perWorker = 20
	want := make(map[string]status.Presence)
	var users []string
	for w := range workers {
		for i := range perWorker {
			u := fmt.Sprintf("u%d-%d@example.com", w, i)
			users = append(users, u)
			want[u] = status.Presence{Availability: status.Busy, Note: u}
		}
	}
	errs := make([]error, workers)
	parallel(workers, func(w int) {
		mine := users[w*perWorker : (w+1)*perWorker]
		for _, u := range mine {
			// Readers and writers of other workers' users interleave.
			if err := ps.Set(t.Context(), u, want[u], s.opts.TTL); err != nil {
				errs[w] = err
				return
			}
			if _, err := ps.GetMany(t.Context(), users); err != nil {
				errs[w] = err
				return
			}
		}
	})
	for w, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", w, err)
		}
	}
	got, err := ps.GetMany(t.Context(), users)
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetMany after concurrent Sets (-want +got):\n%s", diff)
	}
}

func (s *suite) testConcurrentLeases(t *testing.T) {
	st, _ := s.open(t)
	l := st.Leases()
	const rounds = 5
	for r := range rounds {
		name := fmt.Sprintf("contested%d", r)
		won := make([]bool, workers)
		errs := make([]error, workers)
		parallel(workers, func(w int) {
			won[w], errs[w] = l.Acquire(t.Context(), name, fmt.Sprintf("owner%d", w), s.opts.TTL)
		})
		var winners []string
		for w := range workers {
			if errs[w] != nil {
				t.Fatalf("round %d worker %d Acquire: %v", r, w, errs[w])
			}
			if won[w] {
				winners = append(winners, fmt.Sprintf("owner%d", w))
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d owners acquired %q at once: %q", r, len(winners), name, winners)
		}
		got, err := l.Owner(t.Context(), name)
		if err != nil || got != winners[0] {
			t.Errorf("round %d: Owner = %q, %v; want %q", r, got, err, winners[0])
		}
	}
}

func (s *suite) testConcurrentBus(t *testing.T) {
	st, _ := s.open(t)
	b := st.Bus()
	recs := []*recorder{newRecorder(), newRecorder()}
	for _, r := range recs {
		subscribe(t, b, "events", r)
	}
	const perWorker = 25 // workers*perWorker stays far from overload
	errs := make([]error, workers)
	parallel(workers, func(w int) {
		for i := range perWorker {
			if err := b.Publish(t.Context(), "events", fmt.Appendf(nil, "p%d-%d", w, i)); err != nil {
				errs[w] = err
				return
			}
		}
	})
	for w, err := range errs {
		if err != nil {
			t.Fatalf("publisher %d: %v", w, err)
		}
	}
	var lasts []string
	for w := range workers {
		lasts = append(lasts, fmt.Sprintf("p%d-%d", w, perWorker-1))
	}
	for n, r := range recs {
		got := r.waitFor(t, s.opts.Wait, lasts...)
		if r.overlap.Load() {
			t.Errorf("subscription %d: handler called concurrently with itself", n)
		}
		// Each publisher's messages arrive complete and in its order.
		perPublisher := make(map[string][]string)
		for _, msg := range got {
			pub, _, _ := strings.Cut(msg, "-")
			perPublisher[pub] = append(perPublisher[pub], msg)
		}
		for w := range workers {
			pub := fmt.Sprintf("p%d", w)
			if diff := cmp.Diff(numbered(pub+"-", perWorker), perPublisher[pub]); diff != "" {
				t.Errorf("subscription %d, publisher %s (-want +got):\n%s", n, pub, diff)
			}
		}
	}
}

// testConcurrentSubscribe races Subscribe and unsubscribe against Publish
// for the race detector, then checks the bus still delivers.
func (s *suite) testConcurrentSubscribe(t *testing.T) {
	st, _ := s.open(t)
	b := st.Bus()
	errs := make([]error, workers)
	parallel(workers, func(w int) {
		if w%2 == 0 {
			for i := range 50 {
				if err := b.Publish(t.Context(), "events", fmt.Appendf(nil, "%d", i)); err != nil {
					errs[w] = err
					return
				}
			}
			return
		}
		for range 10 {
			unsub, err := b.Subscribe(t.Context(), "events", func([]byte) {})
			if err != nil {
				errs[w] = err
				return
			}
			unsub()
		}
	})
	for w, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", w, err)
		}
	}
	r := newRecorder()
	subscribe(t, b, "events", r)
	publish(t, b, "events", "after")
	if diff := cmp.Diff([]string{"after"}, r.waitFor(t, s.opts.Wait, "after")); diff != "" {
		t.Errorf("delivery after the race (-want +got):\n%s", diff)
	}
}
