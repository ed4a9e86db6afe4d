package statetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/state"
	"github.com/presenced/presenced/internal/status"
)

// since is a fixed, nanosecond-precise instant for presence values.
var since = time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)

// samplePresences are values covering every field of status.Presence.
var samplePresences = []struct {
	name string
	p    status.Presence
}{
	{"zero", status.Presence{}},
	{"available", status.Presence{Availability: status.Available, Since: since}},
	{"busy with note and activity", status.Presence{
		Availability: status.Busy, Activity: "InAMeeting", Note: "back at 3 ☕", Since: since,
	}},
	{"unknown with reason", status.UnknownBecause(status.BackendError)},
	{"since in another zone", status.Presence{
		Availability: status.Away, Since: since.In(time.FixedZone("UTC+5", 5*3600)),
	}},
	{"offline", status.Presence{Availability: status.Offline, Note: "two\nlines\x00and a NUL"}},
}

func (s *suite) testPresence(t *testing.T) {
	t.Run("RoundTrip", s.testPresenceRoundTrip)
	t.Run("Missing", s.testPresenceMissing)
	t.Run("Overwrite", s.testPresenceOverwrite)
	t.Run("GetMany", s.testPresenceGetMany)
	t.Run("Expiry", s.testPresenceExpiry)
	t.Run("SetRenewsExpiry", s.testPresenceRenew)
}

func (s *suite) testPresenceRoundTrip(t *testing.T) {
	st, _ := s.open(t)
	ps := st.Presence()
	for _, tc := range samplePresences {
		t.Run(tc.name, func(t *testing.T) {
			user := tc.name + "@example.com"
			if err := ps.Set(t.Context(), user, tc.p, s.opts.TTL); err != nil {
				t.Fatalf("Set: %v", err)
			}
			got, err := ps.Get(t.Context(), user)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if diff := cmp.Diff(tc.p, got); diff != "" {
				t.Errorf("Get (-want +got):\n%s", diff)
			}
		})
	}
}

func (s *suite) testPresenceMissing(t *testing.T) {
	st, _ := s.open(t)
	ps := st.Presence()
	if err := ps.Set(t.Context(), "alice@example.com", samplePresences[1].p, s.opts.TTL); err != nil {
		t.Fatalf("Set: %v", err)
	}
	for _, user := range []string{"bob@example.com", "ALICE@example.com", ""} {
		if got, err := ps.Get(t.Context(), user); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("Get(%q) = %+v, %v; want ErrNotFound", user, got, err)
		}
	}
}

func (s *suite) testPresenceOverwrite(t *testing.T) {
	st, _ := s.open(t)
	ps := st.Presence()
	const user = "alice@example.com"
	for _, tc := range samplePresences {
		if err := ps.Set(t.Context(), user, tc.p, s.opts.TTL); err != nil {
			t.Fatalf("Set(%s): %v", tc.name, err)
		}
		got, err := ps.Get(t.Context(), user)
		if err != nil {
			t.Fatalf("Get after Set(%s): %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.p, got); diff != "" {
			t.Errorf("Get after Set(%s) (-want +got):\n%s", tc.name, diff)
		}
	}
}

func (s *suite) testPresenceGetMany(t *testing.T) {
	st, _ := s.open(t)
	ps := st.Presence()
	stored := map[string]status.Presence{
		"alice@example.com": samplePresences[1].p,
		"bob@example.com":   samplePresences[2].p,
		"carol@example.com": samplePresences[3].p,
	}
	for user, p := range stored {
		if err := ps.Set(t.Context(), user, p, s.opts.TTL); err != nil {
			t.Fatalf("Set(%s): %v", user, err)
		}
	}
	tests := []struct {
		name  string
		users []string
		want  map[string]status.Presence
	}{
		{"nil", nil, map[string]status.Presence{}},
		{"none known", []string{"x@example.com", "y@example.com"}, map[string]status.Presence{}},
		{"one", []string{"bob@example.com"}, pick(stored, "bob@example.com")},
		{
			"mixed with duplicates",
			[]string{"carol@example.com", "x@example.com", "alice@example.com", "carol@example.com"},
			pick(stored, "alice@example.com", "carol@example.com"),
		},
		{"all", []string{"alice@example.com", "bob@example.com", "carol@example.com"}, stored},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ps.GetMany(t.Context(), tc.users)
			if err != nil {
				t.Fatalf("GetMany: %v", err)
			}
			if got == nil {
				t.Fatal("GetMany returned a nil map")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("GetMany(%q) (-want +got):\n%s", tc.users, diff)
			}
		})
	}
}

// pick returns the entries of m for keys.
func pick(m map[string]status.Presence, keys ...string) map[string]status.Presence {
	out := make(map[string]status.Presence, len(keys))
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

func (s *suite) testPresenceExpiry(t *testing.T) {
	st, adv := s.open(t)
	ps := st.Presence()
	p := samplePresences[2].p
	// short lives for TTL, long for 3*TTL.
	if err := ps.Set(t.Context(), "short@example.com", p, s.opts.TTL); err != nil {
		t.Fatalf("Set short: %v", err)
	}
	if err := ps.Set(t.Context(), "long@example.com", p, 3*s.opts.TTL); err != nil {
		t.Fatalf("Set long: %v", err)
	}
	users := []string{"short@example.com", "long@example.com"}
	steps := []struct {
		advance time.Duration
		want    map[string]status.Presence
	}{
		{s.ttlFrac(1, 2), map[string]status.Presence{"short@example.com": p, "long@example.com": p}},
		{s.ttlFrac(3, 2), map[string]status.Presence{"long@example.com": p}},
		{2 * s.opts.TTL, map[string]status.Presence{}},
	}
	elapsed := time.Duration(0)
	for _, step := range steps {
		adv.Advance(step.advance)
		elapsed += step.advance
		got, err := ps.GetMany(t.Context(), users)
		if err != nil {
			t.Fatalf("GetMany after %v: %v", elapsed, err)
		}
		if diff := cmp.Diff(step.want, got); diff != "" {
			t.Errorf("GetMany after %v (-want +got):\n%s", elapsed, diff)
		}
		for _, u := range users {
			want, known := step.want[u]
			got, err := ps.Get(t.Context(), u)
			switch {
			case known && err != nil:
				t.Errorf("Get(%s) after %v: %v", u, elapsed, err)
			case known:
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Get(%s) after %v (-want +got):\n%s", u, elapsed, diff)
				}
			case !errors.Is(err, state.ErrNotFound):
				t.Errorf("Get(%s) after %v = %+v, %v; want ErrNotFound", u, elapsed, got, err)
			}
		}
	}
}

func (s *suite) testPresenceRenew(t *testing.T) {
	st, adv := s.open(t)
	ps := st.Presence()
	const user = "alice@example.com"
	first, second := samplePresences[1].p, samplePresences[2].p
	if err := ps.Set(t.Context(), user, first, s.opts.TTL); err != nil {
		t.Fatalf("Set: %v", err)
	}
	adv.Advance(s.ttlFrac(3, 4))
	if err := ps.Set(t.Context(), user, second, s.opts.TTL); err != nil {
		t.Fatalf("second Set: %v", err)
	}
	// 1.5 TTL after the first Set, 0.75 after the second.
	adv.Advance(s.ttlFrac(3, 4))
	got, err := ps.Get(t.Context(), user)
	if err != nil {
		t.Fatalf("Get after renewal: %v", err)
	}
	if diff := cmp.Diff(second, got); diff != "" {
		t.Errorf("Get after renewal (-want +got):\n%s", diff)
	}
	adv.Advance(s.ttlFrac(1, 2))
	if got, err := ps.Get(t.Context(), user); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Get 1.25 TTL after renewal = %+v, %v; want ErrNotFound", got, err)
	}
}
