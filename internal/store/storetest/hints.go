package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/store"
)

// hint returns a hint for subscription id with a body naming seq.
func hint(id string, seq int, created time.Duration) store.Hint {
	body := `{"push_token":"tok","user":"alice@example.com","subscription":"` + id + `","key":"phone","sequence":` + strconv.Itoa(seq) + `}`
	return store.Hint{Subscription: id, Body: []byte(body), CreatedAt: at(created)}
}

// checkTake fails the test unless Take returns exactly want.
func checkTake(t *testing.T, s store.Store, want []store.Hint) {
	t.Helper()
	got, err := s.Hints().Take(t.Context())
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	if diff := cmp.Diff(want, got, cmpOpts, sortHints); diff != "" {
		t.Errorf("Take (-want +got):\n%s", diff)
	}
}

func testHints(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("TakeEmpty", func(t *testing.T) {
		checkTake(t, newStore(t, open), nil)
	})

	// Hints need no stored subscription: they outlive the subscription
	// state that produced them.
	binary := store.Hint{Subscription: "bin", Body: []byte{0, 1, 0xff, '"', '\n', 0}, CreatedAt: at(0)}
	tests := []struct {
		name  string
		saves [][]store.Hint
		want  []store.Hint
	}{
		{
			name:  "one batch",
			saves: [][]store.Hint{{hint("a", 1, 0), hint("b", 2, time.Second)}},
			want:  []store.Hint{hint("a", 1, 0), hint("b", 2, time.Second)},
		},
		{
			name: "later save replaces per subscription",
			saves: [][]store.Hint{
				{hint("a", 1, 0), hint("b", 2, time.Second)},
				{hint("a", 5, time.Minute), hint("c", 3, 2*time.Second)},
			},
			want: []store.Hint{hint("a", 5, time.Minute), hint("b", 2, time.Second), hint("c", 3, 2*time.Second)},
		},
		{
			name:  "empty and nil batches",
			saves: [][]store.Hint{{}, nil, {hint("a", 1, 0)}, {}},
			want:  []store.Hint{hint("a", 1, 0)},
		},
		{
			name:  "exact body bytes",
			saves: [][]store.Hint{{binary}},
			want:  []store.Hint{binary},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, open)
			for i, batch := range tt.saves {
				if err := s.Hints().Save(t.Context(), batch); err != nil {
					t.Fatalf("Save #%d: %v", i, err)
				}
			}
			checkTake(t, s, tt.want)
			checkTake(t, s, nil) // Take empties the store.
		})
	}

	t.Run("SaveAfterTake", func(t *testing.T) {
		s := newStore(t, open)
		if err := s.Hints().Save(t.Context(), []store.Hint{hint("a", 1, 0)}); err != nil {
			t.Fatalf("Save: %v", err)
		}
		checkTake(t, s, []store.Hint{hint("a", 1, 0)})
		if err := s.Hints().Save(t.Context(), []store.Hint{hint("a", 2, time.Second)}); err != nil {
			t.Fatalf("second Save: %v", err)
		}
		checkTake(t, s, []store.Hint{hint("a", 2, time.Second)})
	})

	t.Run("CallerOwnsBody", func(t *testing.T) {
		s := newStore(t, open)
		h := hint("a", 1, 0)
		in := h
		in.Body = append([]byte(nil), h.Body...)
		if err := s.Hints().Save(t.Context(), []store.Hint{in}); err != nil {
			t.Fatalf("Save: %v", err)
		}
		in.Body[0] = 'X'
		checkTake(t, s, []store.Hint{h})
	})
}
