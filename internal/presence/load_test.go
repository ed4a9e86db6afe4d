package presence

import (
	"errors"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/presence/presencetest"
	"github.com/presenced/presenced/internal/store"
)

func TestLoad(t *testing.T) {
	live := store.Subscription{ID: "s1", User: "alice", Key: "phone", TTL: 60 * time.Second, ExpiresAt: t0.Add(30 * time.Second),
		Sequence: 7, PushToken: "tok", Contacts: []string{"a@x.com", "b@x.com"}}
	other := store.Subscription{ID: "s2", User: "bob", Key: "s2", ExpiresAt: t0.Add(time.Hour), Sequence: 1, Contacts: []string{"b@x.com"}}
	expired := store.Subscription{ID: "s3", User: "alice", Key: "old", ExpiresAt: t0, Sequence: 99, Contacts: []string{"c@x.com"}}
	st := presencetest.NewStore(live, other, expired)
	e := newEnvWithStore(t, st)

	n, err := e.hub.Load(bg)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Load = %d, want 2", n)
	}
	diff(t, "store after Load", []store.Subscription{live, other}, st.All())
	calls := e.watches.Calls()
	sortWants(calls)
	diff(t, "SetWanted calls", wantCalls("a@x.com", true, "b@x.com", true), calls)
	diff(t, "Stats", Stats{ClientSubscriptions: 2, WatchedContacts: 2, Contacts: 2, Users: 2}, e.hub.Stats())

	seq := 7 + uint64(restartSequenceGap)
	diff(t, "alice's subscriptions", []View{{ID: "s1", Key: "phone", TTL: 60 * time.Second, ExpiresAt: t0.Add(30 * time.Second),
		Sequence: seq, PushToken: "tok", Contacts: []string{"a@x.com", "b@x.com"}}}, e.hub.List("alice"))

	// An app that saw sequence 7 (or anything before the restart) gets
	// the full set; one that saw the restored sequence gets nothing.
	full := Changes{Sequence: seq, Full: true, Presence: []ContactPresence{cp("a@x.com", pending), cp("b@x.com", pending)}}
	diff(t, "since 7", full, e.changes("alice", "s1", 7))
	diff(t, "since restored", Changes{Sequence: seq, Presence: []ContactPresence{}}, e.changes("alice", "s1", seq))

	// Sequences continue above the stored ones.
	e.hub.Update("a@x.com", available)
	diff(t, "after a change", Changes{Sequence: seq + 1, Presence: []ContactPresence{cp("a@x.com", available)}}, e.changes("alice", "s1", seq))

	// Keys survive: replacing by key after the restart keeps the id.
	v, created, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Key: "phone", Contacts: []string{"d@x.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if created || v.ID != "s1" || v.Sequence <= seq+1 {
		t.Errorf("replace after Load: created %v id %s sequence %d, want the same subscription with a higher sequence", created, v.ID, v.Sequence)
	}
	checkInvariants(t, e.hub)

}

func TestLoadListFailure(t *testing.T) {
	st := presencetest.NewStore()
	st.Fail(presencetest.OpList, presencetest.ErrInjected)
	e := newEnvWithStore(t, st)
	if _, err := e.hub.Load(bg); !errors.Is(err, presencetest.ErrInjected) {
		t.Errorf("Load: err = %v, want the store's error", err)
	}
	diff(t, "Stats", Stats{}, e.hub.Stats())
}

func TestLoadRoundTrip(t *testing.T) {
	// What one hub persists, the next one restores.
	st := presencetest.NewStore()
	first := newEnvWithStore(t, st)
	v := first.subscribe("alice", "k", "a@x.com")
	first.hub.Update("a@x.com", available)
	first.hub.markAllDirty()
	if err := first.hub.Flush(bg); err != nil {
		t.Fatal(err)
	}

	second := newEnvWithStore(t, st)
	second.clk.Advance(time.Minute)
	if _, err := second.hub.Load(bg); err != nil {
		t.Fatal(err)
	}
	got := second.get("alice", v.ID)
	if got.Sequence <= 2 {
		t.Errorf("restored sequence %d does not continue above 2", got.Sequence)
	}
	diff(t, "restored contacts", []string{"a@x.com"}, got.Contacts)
	diff(t, "restored state", Changes{Sequence: got.Sequence, Full: true, Presence: []ContactPresence{cp("a@x.com", pending)}}, second.changes("alice", v.ID, 2))
}
