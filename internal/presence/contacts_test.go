package presence

import (
	"testing"
	"time"

	"github.com/presenced/presenced/internal/presence/presencetest"
	"github.com/presenced/presenced/internal/status"
)

func TestWatchRefcountAndLinger(t *testing.T) {
	const x = "x@x.com"
	type step struct {
		do        func(e *env, ids map[string]string)
		wantCalls []presencetest.Want // SetWanted calls made by this step
		watched   int                 // Stats.WatchedContacts after it
	}
	sub := func(name string, contacts ...string) func(*env, map[string]string) {
		return func(e *env, ids map[string]string) { ids[name] = e.subscribe("alice", name, contacts...).ID }
	}
	del := func(name string) func(*env, map[string]string) {
		return func(e *env, ids map[string]string) {
			if err := e.hub.Delete(bg, "alice", ids[name]); err != nil {
				e.tb.Fatal(err)
			}
		}
	}
	patch := func(name string, add, remove []string) func(*env, map[string]string) {
		return func(e *env, ids map[string]string) {
			if _, err := e.hub.Patch(bg, "alice", ids[name], add, remove); err != nil {
				e.tb.Fatal(err)
			}
		}
	}
	advance := func(d time.Duration) func(*env, map[string]string) {
		return func(e *env, _ map[string]string) { e.clk.Advance(d) }
	}
	tests := []struct {
		name   string
		linger time.Duration
		steps  []step
	}{
		{
			name: "two subscriptions, one watch", linger: 10 * time.Second,
			steps: []step{
				{do: sub("s1", x), wantCalls: wantCalls(x, true), watched: 1},
				{do: sub("s2", x, "y@x.com"), wantCalls: wantCalls("y@x.com", true), watched: 2},
				{do: del("s1"), watched: 2},
				{do: advance(time.Hour), watched: 2}, // s2 still holds x
			},
		},
		{
			name: "last one lingers, then releases", linger: 10 * time.Second,
			steps: []step{
				{do: sub("s1", x), wantCalls: wantCalls(x, true), watched: 1},
				{do: sub("s2", x), watched: 1},
				{do: del("s1"), watched: 1},
				{do: del("s2"), watched: 1},
				{do: advance(9 * time.Second), watched: 1},
				{do: advance(time.Second), wantCalls: wantCalls(x, false), watched: 0},
			},
		},
		{
			name: "re-subscribe within the linger cancels the release", linger: 10 * time.Second,
			steps: []step{
				{do: sub("s1", x), wantCalls: wantCalls(x, true), watched: 1},
				{do: del("s1"), watched: 1},
				{do: advance(9 * time.Second), watched: 1},
				{do: sub("s2", x), watched: 1},
				{do: advance(time.Hour), watched: 1},
				{do: del("s2"), watched: 1},
				{do: advance(10 * time.Second), wantCalls: wantCalls(x, false), watched: 0},
				{do: sub("s3", x), wantCalls: wantCalls(x, true), watched: 1},
			},
		},
		{
			name: "patch removal lingers and patch add cancels", linger: 10 * time.Second,
			steps: []step{
				{do: sub("s1", x, "y@x.com"), wantCalls: wantCalls(x, true, "y@x.com", true), watched: 2},
				{do: patch("s1", nil, []string{x}), watched: 2},
				{do: advance(5 * time.Second), watched: 2},
				{do: patch("s1", []string{x}, nil), watched: 2},
				{do: advance(time.Minute), watched: 2},
				{do: patch("s1", nil, []string{x}), watched: 2},
				{do: advance(10 * time.Second), wantCalls: wantCalls(x, false), watched: 1},
			},
		},
		{
			name: "replace keeps shared contacts without churn", linger: 0,
			steps: []step{
				{do: sub("s1", x, "y@x.com"), wantCalls: wantCalls(x, true, "y@x.com", true), watched: 2},
				{do: sub("s1", "z@x.com", x), wantCalls: wantCalls("y@x.com", false, "z@x.com", true), watched: 2},
			},
		},
		{
			name: "linger 0 releases at once", linger: 0,
			steps: []step{
				{do: sub("s1", x), wantCalls: wantCalls(x, true), watched: 1},
				{do: sub("s2", x), watched: 1},
				{do: del("s2"), watched: 1},
				{do: del("s1"), wantCalls: wantCalls(x, false), watched: 0},
				{do: sub("s3", x), wantCalls: wantCalls(x, true), watched: 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, withLinger(tt.linger))
			ids := map[string]string{}
			for i, st := range tt.steps {
				st.do(e, ids)
				if d := diffString(st.wantCalls, e.watches.Take()); d != "" {
					t.Fatalf("step %d: SetWanted calls (-want +got):\n%s", i, d)
				}
				if got := e.hub.Stats().WatchedContacts; got != st.watched {
					t.Fatalf("step %d: WatchedContacts = %d, want %d", i, got, st.watched)
				}
				checkInvariants(t, e.hub)
			}
		})
	}
}

func TestLingeringContactKeepsItsState(t *testing.T) {
	e := newEnv(t, withLinger(10*time.Second))
	v := e.subscribe("alice", "", "x@x.com")
	e.hub.Update("x@x.com", available)
	if err := e.hub.Delete(bg, "alice", v.ID); err != nil {
		t.Fatal(err)
	}
	e.hub.Update("x@x.com", busy) // still watched while lingering
	w := e.subscribe("alice", "", "x@x.com")
	diff(t, "presence on re-subscribe", []ContactPresence{cp("x@x.com", busy)}, w.Presence)

	// After a release the contact starts over as pending.
	if err := e.hub.Delete(bg, "alice", w.ID); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(10 * time.Second)
	e.hub.Update("x@x.com", away) // not wanted any more: ignored
	u := e.subscribe("alice", "", "x@x.com")
	diff(t, "presence after release", []ContactPresence{cp("x@x.com", pending)}, u.Presence)
}

func TestCoalescing(t *testing.T) {
	const x = "x@x.com"
	type update struct {
		after time.Duration // advance before the update
		p     status.Presence
	}
	st := func(a status.Availability) status.Presence { return status.Presence{Availability: a} } // no Since: the hub stamps it
	tests := []struct {
		name      string
		interval  time.Duration
		updates   []update
		tail      time.Duration // advance after the last update
		want      []status.Presence
		coalesced float64
	}{
		{
			name: "A, B, C within the interval: A at once, C at the end, never B", interval: time.Second,
			updates: []update{{0, st(status.Available)}, {300 * time.Millisecond, st(status.Busy)}, {300 * time.Millisecond, st(status.Away)}},
			tail:    400 * time.Millisecond,
			want: []status.Presence{
				{Availability: status.Available, Since: t0},
				{Availability: status.Away, Since: t0.Add(time.Second)},
			},
			coalesced: 1,
		},
		{
			name: "after a quiet interval, at once", interval: time.Second,
			updates: []update{{0, st(status.Available)}, {2 * time.Second, st(status.Busy)}, {time.Second, st(status.Away)}},
			want: []status.Presence{
				{Availability: status.Available, Since: t0},
				{Availability: status.Busy, Since: t0.Add(2 * time.Second)},
				{Availability: status.Away, Since: t0.Add(3 * time.Second)},
			},
		},
		{
			name: "a burst ending on the delivered state delivers nothing more", interval: time.Second,
			updates:   []update{{0, st(status.Available)}, {100 * time.Millisecond, st(status.Busy)}, {100 * time.Millisecond, st(status.Available)}},
			tail:      time.Second,
			want:      []status.Presence{{Availability: status.Available, Since: t0}},
			coalesced: 1,
		},
		{
			name: "identical updates are not changes", interval: 0,
			updates: []update{{0, st(status.Available)}, {time.Second, st(status.Available)}, {time.Second, available}, {time.Second, available}},
			want: []status.Presence{
				{Availability: status.Available, Since: t0},
				available, // a different Since is a change; the same one is not
			},
		},
		{
			name: "interval 0 delivers everything", interval: 0,
			updates: []update{{0, st(status.Available)}, {0, st(status.Busy)}, {0, st(status.Away)}},
			want: []status.Presence{
				{Availability: status.Available, Since: t0},
				{Availability: status.Busy, Since: t0},
				{Availability: status.Away, Since: t0},
			},
		},
		{
			name: "the pending update waits for the interval, not longer", interval: time.Second,
			updates: []update{{0, st(status.Available)}, {500 * time.Millisecond, st(status.Busy)}},
			tail:    499 * time.Millisecond,
			want:    []status.Presence{{Availability: status.Available, Since: t0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, withCoalesce(tt.interval))
			l := e.hub.Listen("alice", 64)
			defer l.Close()
			v := e.subscribe("alice", "", x)
			for _, u := range tt.updates {
				e.clk.Advance(u.after)
				e.hub.Update(x, u.p)
			}
			e.clk.Advance(tt.tail)
			var want []ev
			for i, p := range tt.want {
				want = append(want, changed(v.ID, uint64(i+2), x, p))
			}
			diff(t, "events", want, drain(l))
			if got := e.counter("presenced_coalesced_updates_total"); got != tt.coalesced {
				t.Errorf("coalesced counter = %v, want %v", got, tt.coalesced)
			}
			if got := e.get("alice", v.ID).Sequence; got != uint64(len(tt.want)+1) {
				t.Errorf("Sequence = %d, want %d", got, len(tt.want)+1)
			}
		})
	}
}

func TestUpdatesOfUnwantedContactsIgnored(t *testing.T) {
	e := newEnv(t)
	l := e.hub.Listen("alice", 8)
	defer l.Close()
	e.hub.Update("nobody@x.com", available)
	if got := e.hub.Stats().Contacts; got != 0 {
		t.Errorf("an update created %d contacts", got)
	}
	if got := drain(l); len(got) != 0 {
		t.Errorf("events %v, want none", got)
	}
}

func TestFanOutOrderAcrossSubscriptions(t *testing.T) {
	e := newEnv(t)
	l := e.hub.Listen("alice", 8)
	defer l.Close()
	s1 := e.subscribe("alice", "1", "x@x.com", "y@x.com")
	s2 := e.subscribe("alice", "2", "x@x.com")
	e.hub.Update("x@x.com", available)
	e.hub.Update("y@x.com", busy)
	got := drain(l)
	// One event per subscription holding the contact, each with that
	// subscription's own next sequence; the Change is shared.
	want := []ev{
		changed(s1.ID, 2, "x@x.com", available),
		changed(s2.ID, 2, "x@x.com", available),
		changed(s1.ID, 3, "y@x.com", busy),
	}
	// The order across subscriptions of one contact is unspecified.
	if len(got) == 3 && got[0].Sub == s2.ID {
		got[0], got[1] = got[1], got[0]
	}
	diff(t, "events", want, got)
	if got := e.counter("presenced_deliveries_total"); got != 3 {
		t.Errorf("deliveries counter = %v, want 3", got)
	}
	if got := e.hub.Stats().Deliveries; got != 3 {
		t.Errorf("Stats.Deliveries = %v, want 3", got)
	}
}

func TestListenerOverflow(t *testing.T) {
	e := newEnv(t)
	stuck := e.hub.Listen("alice", 1) // never reads
	live := e.hub.Listen("alice", 16)
	defer live.Close()
	v := e.subscribe("alice", "", "x@x.com")
	states := []status.Presence{available, busy, away}
	for _, p := range states {
		e.hub.Update("x@x.com", p)
	}

	select {
	case <-stuck.Done():
	default:
		t.Fatalf("the stuck listener was not dropped")
	}
	if !stuck.Overflowed() {
		t.Errorf("Overflowed = false for the dropped listener")
	}
	if live.Overflowed() {
		t.Errorf("Overflowed = true for the live listener")
	}
	var want []ev
	for i, p := range states {
		want = append(want, changed(v.ID, uint64(i+2), "x@x.com", p))
	}
	diff(t, "live listener's events", want, drain(live))
	// A dropped listener's queue is discarded: its events are stale and
	// the app catches up with "changes since" after reconnecting.
	diff(t, "stuck listener's queue", []ev(nil), drain(stuck))
	if got := e.counter("presenced_listener_drops_total"); got != 1 {
		t.Errorf("drops counter = %v, want 1", got)
	}
	if got := e.counter("presenced_deliveries_total"); got != 4 {
		t.Errorf("deliveries counter = %v, want 4 (1 to the stuck listener, 3 to the live one)", got)
	}
	if got := e.hub.Stats().Listeners; got != 1 {
		t.Errorf("Listeners = %d, want 1", got)
	}
}

func TestPushHints(t *testing.T) {
	e := newEnv(t)
	v, _, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Key: "phone", Contacts: []string{"a@x.com", "b@x.com"}, PushToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	e.subscribe("alice", "nopush", "a@x.com")
	hint := func(seq uint64) Hint {
		return Hint{PushToken: "tok", User: "alice", Subscription: v.ID, Key: "phone", Sequence: seq}
	}
	steps := []struct {
		name string
		do   func()
		want []Hint
	}{
		{"first change hints", func() { e.hub.Update("a@x.com", available) }, []Hint{hint(2)}},
		{"further changes do not", func() { e.hub.Update("b@x.com", busy); e.hub.Update("a@x.com", away) }, nil},
		{"Refresh is not a fetch", func() { e.hub.Refresh("alice", v.ID) }, nil},
		{"still outstanding", func() { e.hub.Update("a@x.com", offline) }, nil},
		{"Get fetches", func() { e.get("alice", v.ID) }, nil},
		{"so the next change hints", func() { e.hub.Update("a@x.com", available) }, []Hint{hint(6)}},
		{"ChangesSince fetches", func() { e.changes("alice", v.ID, 6) }, nil},
		{"and the next change hints", func() { e.hub.Update("b@x.com", away) }, []Hint{hint(7)}},
		{"Patch fetches", func() {
			if _, err := e.hub.Patch(bg, "alice", v.ID, nil, []string{"b@x.com"}); err != nil { // 8
				t.Fatal(err)
			}
		}, nil},
		{"so a change after it hints", func() { e.hub.Update("a@x.com", busy) }, []Hint{hint(9)}},
		{"replacing by key answers the full state", func() {
			if _, _, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Key: "phone", Contacts: []string{"a@x.com"}, PushToken: "tok"}); err != nil { // 10
				t.Fatal(err)
			}
		}, nil},
		{"so a change after the replace hints", func() { e.hub.Update("a@x.com", away) }, []Hint{hint(11)}},
	}
	for _, st := range steps {
		st.do()
		diff(t, st.name, st.want, e.hints.take())
	}
}
