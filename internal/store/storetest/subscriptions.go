package storetest

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/store"
)

// sub returns a subscription of user with the given id and key.
func sub(id, user, key string) store.Subscription {
	return store.Subscription{
		ID:        id,
		User:      user,
		Key:       key,
		TTL:       180 * time.Second,
		ExpiresAt: at(180 * time.Second),
		Sequence:  1,
		Contacts:  []string{"bob@example.com", "carol@example.com"},
	}
}

// putAll stores subs, failing the test on any error.
func putAll(t *testing.T, s store.Store, subs ...store.Subscription) {
	t.Helper()
	for _, x := range subs {
		if err := s.Subscriptions().Put(t.Context(), x); err != nil {
			t.Fatalf("Put %s: %v", x.ID, err)
		}
	}
}

// checkList fails the test unless List returns exactly want.
func checkList(t *testing.T, s store.Store, want []store.Subscription) {
	t.Helper()
	got, err := s.Subscriptions().List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if diff := cmp.Diff(want, got, cmpOpts, sortSubscriptions); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

func testSubscriptions(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Empty", func(t *testing.T) {
		checkList(t, newStore(t, open), nil)
	})
	t.Run("PutList", func(t *testing.T) { testSubscriptionPutList(t, open) })
	t.Run("PutReplace", func(t *testing.T) { testSubscriptionReplace(t, open) })
	t.Run("PutKeyConflict", func(t *testing.T) { testSubscriptionConflict(t, open) })
	t.Run("Touch", func(t *testing.T) { testSubscriptionTouch(t, open) })
	t.Run("Delete", func(t *testing.T) { testSubscriptionDelete(t, open) })
	t.Run("CallerOwnsSlices", func(t *testing.T) { testSubscriptionCopies(t, open) })
}

func testSubscriptionPutList(t *testing.T, open func(t *testing.T) store.Store) {
	full := sub("s-full", "alice@example.com", "phone")
	full.PushToken = "apns:0123456789abcdef"
	full.Contacts = contacts(250)
	full.TTL = 86400 * time.Second
	full.ExpiresAt = at(86400 * time.Second)
	full.Sequence = 42

	empty := sub("s-empty", "alice@example.com", "tablet")
	empty.Contacts = []string{}
	empty.Sequence = 0

	odd := sub("s-odd", "bob@example.com", "phone")
	odd.Contacts = []string{"zed@example.com", "amy@example.com", "mike@example.com"}
	odd.TTL = 10*time.Second + 250*time.Millisecond
	odd.ExpiresAt = at(10*time.Second + 250*time.Millisecond)
	odd.Sequence = math.MaxUint64

	unicode := sub("s-ünï", "dörte@example.com", "clé ключ 鍵")
	unicode.PushToken = "token with spaces, quotes \" and 'apostrophes'"

	s := newStore(t, open)
	want := []store.Subscription{full, empty, odd, unicode}
	putAll(t, s, want...)
	checkList(t, s, want)
}

func testSubscriptionReplace(t *testing.T, open func(t *testing.T) store.Store) {
	s := newStore(t, open)
	orig := sub("s1", "alice@example.com", "phone")
	orig.PushToken = "push-1"
	other := sub("s2", "alice@example.com", "tablet")
	putAll(t, s, orig, other)

	replaced := store.Subscription{
		ID:        "s1",
		User:      "alice@example.com",
		Key:       "desk",
		TTL:       30 * time.Second,
		ExpiresAt: at(time.Hour),
		Sequence:  7,
		PushToken: "",
		Contacts:  []string{"zoe@example.com", "bob@example.com"},
	}
	putAll(t, s, replaced)
	checkList(t, s, []store.Subscription{replaced, other})

	// The replaced subscription gave up its old key: another id may take it.
	reuse := sub("s3", "alice@example.com", "phone")
	putAll(t, s, reuse)
	checkList(t, s, []store.Subscription{replaced, other, reuse})
}

func testSubscriptionConflict(t *testing.T, open func(t *testing.T) store.Store) {
	a1 := sub("a1", "alice@example.com", "phone")
	a2 := sub("a2", "alice@example.com", "tablet")
	tests := []struct {
		name     string
		existing []store.Subscription
		put      store.Subscription
		wantErr  error
		want     []store.Subscription
	}{
		{
			name:     "same key, same user, other id",
			existing: []store.Subscription{a1},
			put:      sub("a9", "alice@example.com", "phone"),
			wantErr:  store.ErrConflict,
			want:     []store.Subscription{a1},
		},
		{
			name:     "replace moves to a key another subscription has",
			existing: []store.Subscription{a1, a2},
			put:      sub("a2", "alice@example.com", "phone"),
			wantErr:  store.ErrConflict,
			want:     []store.Subscription{a1, a2},
		},
		{
			name:     "same key, other user",
			existing: []store.Subscription{a1},
			put:      sub("b1", "bob@example.com", "phone"),
			want:     []store.Subscription{a1, sub("b1", "bob@example.com", "phone")},
		},
		{
			name:     "same key, same id",
			existing: []store.Subscription{a1},
			put:      func() store.Subscription { x := a1; x.Sequence = 9; return x }(),
			want:     []store.Subscription{func() store.Subscription { x := a1; x.Sequence = 9; return x }()},
		},
		{
			name:     "keys differ only in case",
			existing: []store.Subscription{a1},
			put:      sub("a3", "alice@example.com", "Phone"),
			want:     []store.Subscription{a1, sub("a3", "alice@example.com", "Phone")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, open)
			putAll(t, s, tt.existing...)
			err := s.Subscriptions().Put(t.Context(), tt.put)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Put: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Put = %v; want %v", err, tt.wantErr)
			}
			checkList(t, s, tt.want)
		})
	}
}

func testSubscriptionTouch(t *testing.T, open func(t *testing.T) store.Store) {
	a := sub("a", "alice@example.com", "phone")
	b := sub("b", "alice@example.com", "tablet")
	c := sub("c", "bob@example.com", "phone")
	touched := func(x store.Subscription, expires time.Duration, seq uint64) store.Subscription {
		x.ExpiresAt = at(expires)
		x.Sequence = seq
		return x
	}
	tests := []struct {
		name    string
		touches []store.Touch
		want    []store.Subscription
	}{
		{
			name: "batch with a missing id",
			touches: []store.Touch{
				{ID: "a", ExpiresAt: at(time.Hour), Sequence: 10},
				{ID: "missing", ExpiresAt: at(time.Hour), Sequence: 11},
				{ID: "b", ExpiresAt: at(2*time.Hour + 5*time.Millisecond), Sequence: math.MaxUint64},
			},
			want: []store.Subscription{
				touched(a, time.Hour, 10),
				touched(b, 2*time.Hour+5*time.Millisecond, math.MaxUint64),
				c,
			},
		},
		{
			name:    "only missing ids",
			touches: []store.Touch{{ID: "x", ExpiresAt: at(time.Hour), Sequence: 3}, {ID: "y"}},
			want:    []store.Subscription{a, b, c},
		},
		{
			name: "same id twice, last wins",
			touches: []store.Touch{
				{ID: "c", ExpiresAt: at(time.Minute), Sequence: 5},
				{ID: "c", ExpiresAt: at(2 * time.Minute), Sequence: 6},
			},
			want: []store.Subscription{a, b, touched(c, 2*time.Minute, 6)},
		},
		{
			name:    "empty batch",
			touches: []store.Touch{},
			want:    []store.Subscription{a, b, c},
		},
		{
			name: "nil batch",
			want: []store.Subscription{a, b, c},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, open)
			putAll(t, s, a, b, c)
			if err := s.Subscriptions().Touch(t.Context(), tt.touches); err != nil {
				t.Fatalf("Touch: %v", err)
			}
			checkList(t, s, tt.want)
		})
	}

	t.Run("large batch", func(t *testing.T) {
		s := newStore(t, open)
		var subs []store.Subscription
		var touches []store.Touch
		for i := range 1000 {
			x := sub(fmt.Sprintf("s%04d", i), "alice@example.com", fmt.Sprintf("k%04d", i))
			subs = append(subs, x)
			touches = append(touches, store.Touch{ID: x.ID, ExpiresAt: at(time.Duration(i) * time.Second), Sequence: uint64(i) + 100})
		}
		putAll(t, s, subs...)
		if err := s.Subscriptions().Touch(t.Context(), touches); err != nil {
			t.Fatalf("Touch: %v", err)
		}
		for i := range subs {
			subs[i] = touched(subs[i], time.Duration(i)*time.Second, uint64(i)+100)
		}
		checkList(t, s, subs)
	})
}

func testSubscriptionDelete(t *testing.T, open func(t *testing.T) store.Store) {
	s := newStore(t, open)
	a := sub("a", "alice@example.com", "phone")
	b := sub("b", "alice@example.com", "tablet")
	putAll(t, s, a, b)

	if err := s.Subscriptions().Delete(t.Context(), "a"); err != nil {
		t.Fatalf("Delete a: %v", err)
	}
	checkList(t, s, []store.Subscription{b})

	for _, id := range []string{"a", "never-existed", ""} {
		if err := s.Subscriptions().Delete(t.Context(), id); err != nil {
			t.Errorf("Delete missing %q = %v; want nil", id, err)
		}
	}
	checkList(t, s, []store.Subscription{b})

	// The deleted subscription's key is free again.
	reuse := sub("c", "alice@example.com", "phone")
	putAll(t, s, reuse)
	checkList(t, s, []store.Subscription{b, reuse})

	// A Touch after Delete must not bring the subscription back.
	if err := s.Subscriptions().Touch(t.Context(), []store.Touch{{ID: "a", ExpiresAt: at(time.Hour), Sequence: 9}}); err != nil {
		t.Fatalf("Touch deleted: %v", err)
	}
	checkList(t, s, []store.Subscription{b, reuse})
}

func testSubscriptionCopies(t *testing.T, open func(t *testing.T) store.Store) {
	s := newStore(t, open)
	x := sub("a", "alice@example.com", "phone")
	in := x
	in.Contacts = []string{"bob@example.com", "carol@example.com"}
	putAll(t, s, in)
	in.Contacts[0] = "mutated@example.com"

	got, err := s.Subscriptions().List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) == 1 && len(got[0].Contacts) > 0 {
		got[0].Contacts[0] = "mutated-too@example.com"
	}
	checkList(t, s, []store.Subscription{x})
}
