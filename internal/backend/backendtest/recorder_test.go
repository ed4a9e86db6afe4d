package backendtest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/presenced/presenced/internal/status"
)

func TestRecorderWait(t *testing.T) {
	r := NewRecorder()
	r.Update("a@example.com", status.Presence{Availability: status.Busy})
	r.Update("b@example.com", status.Presence{Availability: status.Away})
	r.Update("a@example.com", status.Presence{Availability: status.Away})

	isAway := func(u Update) bool { return u.Presence.Availability == status.Away }
	tests := []struct {
		name     string
		from     int
		want     Update
		wantMark int
	}{
		{"from start", 0, Update{"b@example.com", status.Presence{Availability: status.Away}}, 1},
		{"after the first match", 2, Update{"a@example.com", status.Presence{Availability: status.Away}}, 2},
		{"negative mark is the start", -3, Update{"b@example.com", status.Presence{Availability: status.Away}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, mark, err := r.Wait(t.Context(), tt.from, isAway)
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || mark != tt.wantMark {
				t.Errorf("Wait = mark %d (want %d), update diff (-want +got):\n%s", mark, tt.wantMark, diff)
			}
		})
	}
}

func TestRecorderWaitWakesOnUpdate(t *testing.T) {
	r := NewRecorder()
	type result struct {
		U    Update
		Mark int
	}
	done := make(chan result, 1)
	go func() {
		u, mark, err := r.Wait(context.Background(), 0, func(u Update) bool { return u.Contact == "b@example.com" })
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		done <- result{u, mark}
	}()
	r.Update("a@example.com", status.Presence{Availability: status.Busy})
	r.Update("b@example.com", status.Presence{Availability: status.Offline})
	want := result{U: Update{"b@example.com", status.Presence{Availability: status.Offline}}, Mark: 1}
	if diff := cmp.Diff(want, <-done); diff != "" {
		t.Errorf("Wait (-want +got):\n%s", diff)
	}
}

func TestRecorderWaitHonoursContext(t *testing.T) {
	r := NewRecorder()
	r.Update("a@example.com", status.Presence{Availability: status.Busy})
	cause := errors.New("test over")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	_, _, err := r.Wait(ctx, 0, func(u Update) bool { return u.Contact == "nobody@example.com" })
	if !errors.Is(err, cause) {
		t.Fatalf("Wait with a cancelled context = %v, want an error wrapping %v", err, cause)
	}
}

func TestRecorderFrom(t *testing.T) {
	r := NewRecorder()
	if got := r.From(0); got != nil {
		t.Fatalf("From(0) of an empty recorder = %v, want nil", got)
	}
	r.Update("a@example.com", status.Presence{Availability: status.Busy})
	r.Update("b@example.com", status.Presence{Availability: status.Away, Note: "x"})
	want := []Update{{"b@example.com", status.Presence{Availability: status.Away, Note: "x"}}}
	if diff := cmp.Diff(want, r.From(1)); diff != "" {
		t.Errorf("From(1) (-want +got):\n%s", diff)
	}
	if r.Len() != 2 {
		t.Errorf("Len = %d, want 2", r.Len())
	}
	if got := r.From(2); got != nil {
		t.Errorf("From(2) = %v, want nil", got)
	}
}
