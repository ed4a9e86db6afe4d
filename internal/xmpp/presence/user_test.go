package presence

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/status"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// at returns t0 plus n minutes.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

// from returns juliet's JID with resource r ("" for the bare JID).
func from(r string) JID { return JID{Local: "juliet", Domain: "example.com", Resource: r} }

func avail(r string, show Show, prio int8, text string) Stanza {
	return Stanza{From: from(r), Show: show, Priority: prio, Status: text}
}

func unavail(r, text string) Stanza {
	return Stanza{From: from(r), Type: TypeUnavailable, Status: text}
}

// step applies one stanza at minute min and expects changed and the merged
// presence after it.
type step struct {
	min     int
	in      Stanza
	changed bool
	want    status.Presence
}

func online(a status.Availability, note string, since int) status.Presence {
	return status.Presence{Availability: a, Note: note, Since: at(since)}
}

func TestUserMerge(t *testing.T) {
	pending := status.UnknownBecause(status.Pending)
	broken := status.UnknownBecause(status.BackendError)
	delayed := avail("phone", ShowAway, 0, "")
	delayed.Delay = at(-30)
	future := avail("phone", ShowAway, 0, "")
	future.Delay = at(60)
	tests := []struct {
		name  string
		steps []step
	}{
		{"one resource, show mapping", []step{
			{1, avail("pc", ShowNone, 0, "hi"), true, online(status.Available, "hi", 1)},
			{2, avail("pc", ShowChat, 0, "hi"), true, online(status.Available, "hi", 2)},
			{3, avail("pc", ShowAway, 0, ""), true, online(status.Away, "", 3)},
			{4, avail("pc", ShowXA, 0, ""), true, online(status.Away, "", 4)},
			{5, avail("pc", ShowDND, 0, "focus"), true, online(status.DoNotDisturb, "focus", 5)},
		}},
		{"repeated presence keeps Since and reports no change", []step{
			{1, avail("pc", ShowAway, 0, "x"), true, online(status.Away, "x", 1)},
			{2, avail("pc", ShowAway, 0, "x"), false, online(status.Away, "x", 1)},
		}},
		{"priority change alone is a new Since", []step{
			{1, avail("pc", ShowAway, 0, ""), true, online(status.Away, "", 1)},
			{2, avail("pc", ShowAway, 1, ""), true, online(status.Away, "", 2)},
		}},
		{"higher priority wins over more available", []step{
			{1, avail("pc", ShowNone, 0, "pc"), true, online(status.Available, "pc", 1)},
			{2, avail("phone", ShowDND, 5, "phone"), true, online(status.DoNotDisturb, "phone", 2)},
			{3, avail("pc", ShowChat, 4, "pc"), false, online(status.DoNotDisturb, "phone", 2)},
			{4, avail("pc", ShowChat, 6, "pc"), true, online(status.Available, "pc", 4)},
		}},
		{"negative priorities count", []step{
			{1, avail("bot", ShowAway, -5, "bot"), true, online(status.Away, "bot", 1)},
			{2, avail("pc", ShowDND, -1, "pc"), true, online(status.DoNotDisturb, "pc", 2)},
			{3, unavail("pc", ""), true, online(status.Away, "bot", 1)},
		}},
		{"equal priority: most available show wins", []step{
			{1, avail("a", ShowDND, 1, "a"), true, online(status.DoNotDisturb, "a", 1)},
			{2, avail("b", ShowXA, 1, "b"), true, online(status.Away, "b", 2)},
			{3, avail("c", ShowAway, 1, "c"), true, online(status.Away, "c", 3)},
			{4, avail("d", ShowNone, 1, "d"), true, online(status.Available, "d", 4)},
			{5, avail("e", ShowChat, 1, "e"), true, online(status.Available, "e", 5)},
			{6, avail("f", ShowNone, 1, "f"), false, online(status.Available, "e", 5)},
			{7, unavail("e", ""), true, online(status.Available, "f", 6)},
		}},
		{"equal priority and show: most recent change wins", []step{
			{1, avail("a", ShowAway, 0, "a"), true, online(status.Away, "a", 1)},
			{2, avail("b", ShowAway, 0, "b"), true, online(status.Away, "b", 2)},
			{3, avail("a", ShowAway, 0, "a"), false, online(status.Away, "b", 2)}, // a resend is no change
			{4, avail("a", ShowAway, 0, "a2"), true, online(status.Away, "a2", 4)},
		}},
		{"unavailable of one resource, then of the last", []step{
			{1, avail("pc", ShowDND, 0, "pc"), true, online(status.DoNotDisturb, "pc", 1)},
			{2, avail("phone", ShowNone, 0, "phone"), true, online(status.Available, "phone", 2)},
			{3, unavail("phone", ""), true, online(status.DoNotDisturb, "pc", 1)},
			{4, unavail("tablet", ""), false, online(status.DoNotDisturb, "pc", 1)},
			{5, unavail("pc", "gone home"), true, online(status.Offline, "gone home", 5)},
			{6, unavail("pc", "again"), false, online(status.Offline, "gone home", 5)},
		}},
		{"bare unavailable removes every resource", []step{
			{1, avail("pc", ShowNone, 0, ""), true, online(status.Available, "", 1)},
			{2, avail("phone", ShowAway, 0, ""), false, online(status.Available, "", 1)},
			{3, unavail("", ""), true, online(status.Offline, "", 3)},
			{4, avail("phone", ShowAway, 0, ""), true, online(status.Away, "", 4)},
		}},
		{"presence from the bare JID is a resource of its own", []step{
			{1, avail("", ShowAway, 0, "bare"), true, online(status.Away, "bare", 1)},
			{2, avail("pc", ShowNone, 0, "pc"), true, online(status.Available, "pc", 2)},
			{3, unavail("pc", ""), true, online(status.Away, "bare", 1)},
		}},
		{"error forgets resources until the next presence", []step{
			{1, avail("pc", ShowNone, 0, ""), true, online(status.Available, "", 1)},
			{2, Stanza{From: from(""), Type: TypeError, Error: StanzaError{Condition: "remote-server-not-found"}}, true, broken},
			{3, Stanza{From: from(""), Type: TypeError}, false, broken},
			{4, unavail("pc", ""), true, online(status.Offline, "", 4)},
			{5, Stanza{From: from(""), Type: TypeError}, true, broken},
			{6, avail("pc", ShowAway, 0, ""), true, online(status.Away, "", 6)},
		}},
		{"pending until the first presence; other types ignored", []step{
			{1, Stanza{From: from(""), Type: TypeProbe}, false, pending},
			{2, Stanza{From: from(""), Type: TypeSubscribed}, false, pending},
			{3, Stanza{From: from(""), Type: TypeUnsubscribed}, false, pending},
			{4, unavail("pc", ""), true, online(status.Offline, "", 4)},
			{5, Stanza{From: from(""), Type: TypeSubscribe}, false, online(status.Offline, "", 4)},
		}},
		{"delay gives Since; a future delay is clamped to now", []step{
			{1, delayed, true, online(status.Away, "", -30)},
			{2, avail("phone", ShowNone, 0, ""), true, online(status.Available, "", 2)},
			{3, future, true, online(status.Away, "", 3)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var now time.Time
			u := NewUser(func() time.Time { return now })
			if diff := cmp.Diff(pending, u.Presence()); diff != "" {
				t.Fatalf("new User mismatch (-want +got):\n%s", diff)
			}
			for i, st := range tt.steps {
				now = at(st.min)
				changed := u.Apply(st.in)
				if changed != st.changed {
					t.Errorf("step %d: Apply(%+v) = %v, want %v", i, st.in, changed, st.changed)
				}
				if diff := cmp.Diff(st.want, u.Presence()); diff != "" {
					t.Errorf("step %d: Presence mismatch (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestUserBoundsResources(t *testing.T) {
	var now time.Time
	u := NewUser(func() time.Time { return now })
	var want []string
	for i := range MaxResources {
		now = at(i)
		u.Apply(avail(fmt.Sprintf("r%02d", i), ShowAway, 0, ""))
		want = append(want, fmt.Sprintf("r%02d", i))
	}
	// r00 speaks again, so r01 is now the one updated longest ago.
	u.Apply(avail("r00", ShowAway, 0, ""))
	now = at(100)
	if !u.Apply(avail("new", ShowNone, 0, "new")) {
		t.Error("Apply(new resource) = false, want true")
	}
	want = append([]string{"new", "r00"}, want[2:]...)
	if diff := cmp.Diff(want, u.Resources()); diff != "" {
		t.Errorf("Resources mismatch (-want +got):\n%s", diff)
	}
	if changed := u.Apply(unavail("r01", "")); changed {
		t.Error("unavailable of the evicted resource changed the presence")
	}
	if diff := cmp.Diff(online(status.Available, "new", 100), u.Presence()); diff != "" {
		t.Errorf("Presence mismatch (-want +got):\n%s", diff)
	}
}

func TestNewUserDefaultClock(t *testing.T) {
	u := NewUser(nil)
	before := time.Now()
	u.Apply(avail("pc", ShowNone, 0, ""))
	if got := u.Presence().Since; got.Before(before) {
		t.Errorf("Since = %v, want at or after %v", got, before)
	}
}
