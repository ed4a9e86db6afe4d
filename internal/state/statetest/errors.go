package statetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/state"
	"github.com/presenced/presenced/internal/status"
)

// op is one State method called on fixed, valid arguments.
type op struct {
	name string
	call func(ctx context.Context, st state.State) error
}

// allOps returns a call of every method of a State's parts, with ttl as
// the TTL argument.
func allOps(ttl time.Duration) []op {
	p := status.Presence{Availability: status.Available}
	return []op{
		{"Set", func(ctx context.Context, st state.State) error {
			return st.Presence().Set(ctx, "alice@example.com", p, ttl)
		}},
		{"Get", func(ctx context.Context, st state.State) error {
			_, err := st.Presence().Get(ctx, "alice@example.com")
			return err
		}},
		{"GetMany", func(ctx context.Context, st state.State) error {
			_, err := st.Presence().GetMany(ctx, []string{"alice@example.com"})
			return err
		}},
		{"Publish", func(ctx context.Context, st state.State) error {
			return st.Bus().Publish(ctx, "events", []byte("x"))
		}},
		{"Subscribe", func(ctx context.Context, st state.State) error {
			unsub, err := st.Bus().Subscribe(ctx, "events", func([]byte) {})
			if err == nil {
				unsub()
			}
			return err
		}},
		{"Acquire", func(ctx context.Context, st state.State) error {
			_, err := st.Leases().Acquire(ctx, "ep1", "a", ttl)
			return err
		}},
		{"Release", func(ctx context.Context, st state.State) error {
			return st.Leases().Release(ctx, "ep1", "a")
		}},
		{"Owner", func(ctx context.Context, st state.State) error {
			_, err := st.Leases().Owner(ctx, "ep1")
			return err
		}},
	}
}

func (s *suite) testErrors(t *testing.T) {
	t.Run("CancelledContext", s.testCancelledContext)
	t.Run("InvalidArguments", s.testInvalidArguments)
}

func (s *suite) testCancelledContext(t *testing.T) {
	st, _ := s.open(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, o := range allOps(s.opts.TTL) {
		if err := o.call(ctx, st); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want an error wrapping context.Canceled", o.name, err)
		}
	}
}

func (s *suite) testInvalidArguments(t *testing.T) {
	st, _ := s.open(t)
	p := status.Presence{Availability: status.Available}
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Set with zero ttl", func(ctx context.Context) error {
			return st.Presence().Set(ctx, "alice@example.com", p, 0)
		}},
		{"Set with negative ttl", func(ctx context.Context) error {
			return st.Presence().Set(ctx, "alice@example.com", p, -time.Second)
		}},
		{"Acquire with zero ttl", func(ctx context.Context) error {
			_, err := st.Leases().Acquire(ctx, "ep1", "a", 0)
			return err
		}},
		{"Acquire with empty owner", func(ctx context.Context) error {
			_, err := st.Leases().Acquire(ctx, "ep1", "", s.opts.TTL)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(t.Context()); err == nil {
				t.Error("succeeded, want an error")
			}
		})
	}
	// None of them stored anything.
	if got, err := st.Presence().Get(t.Context(), "alice@example.com"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Get after invalid Sets = %+v, %v; want ErrNotFound", got, err)
	}
	if got, err := st.Leases().Owner(t.Context(), "ep1"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Owner after invalid Acquires = %q, %v; want ErrNotFound", got, err)
	}
}

func (s *suite) testClose(t *testing.T) {
	t.Run("MethodsFail", s.testCloseMethodsFail)
	t.Run("StopsSubscriptions", s.testCloseStopsSubscriptions)
	t.Run("WaitsForHandler", s.testCloseWaitsForHandler)
}

func (s *suite) testCloseMethodsFail(t *testing.T) {
	st, _ := s.open(t)
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for _, o := range allOps(s.opts.TTL) {
		if err := o.call(t.Context(), st); !errors.Is(err, state.ErrClosed) {
			t.Errorf("%s after Close = %v, want an error wrapping ErrClosed", o.name, err)
		}
	}
}

func (s *suite) testCloseStopsSubscriptions(t *testing.T) {
	st, _ := s.open(t)
	b := st.Bus()
	r := newRecorder()
	unsub := subscribe(t, b, "events", r)
	publish(t, b, "events", "before")
	r.waitFor(t, s.opts.Wait, "before")
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// unsubscribe after Close is a no-op and must not block.
	done := make(chan struct{})
	go func() {
		defer close(done)
		unsub()
	}()
	waitClosed(t, done, s.opts.Wait, "unsubscribe after Close")
}

// testCloseWaitsForHandler checks that Close returns only after a running
// handler call has returned.
func (s *suite) testCloseWaitsForHandler(t *testing.T) {
	st, _ := s.open(t)
	b := st.Bus()
	bl := newBlocker()
	if _, err := b.Subscribe(t.Context(), "events", bl.handle); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	// The second message is still queued behind the blocked handler when
	// Close begins.
	publish(t, b, "events", "block", "queued")
	s.assertWaitsForHandler(t, bl, "Close", func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}
