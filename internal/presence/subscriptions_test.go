package presence

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/presence/presencetest"
	"github.com/presenced/presenced/internal/store"
)

func TestSequenceStrictlyIncreasing(t *testing.T) {
	e := newEnv(t)
	l := e.hub.Listen("alice", 64)
	defer l.Close()
	v := e.subscribe("alice", "k", "a@x.com", "b@x.com")
	seqs := []uint64{v.Sequence}
	record := func(s uint64) { seqs = append(seqs, s) }

	e.hub.Update("a@x.com", available)
	e.hub.Update("b@x.com", busy)
	e.hub.Update("a@x.com", available) // not a change: no sequence
	for _, x := range drain(l) {
		record(x.Seq)
	}
	p, err := e.hub.Patch(bg, "alice", v.ID, []string{"c@x.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	record(p.Sequence)
	e.hub.Update("c@x.com", away)
	for _, x := range drain(l) {
		record(x.Seq)
	}
	p, err = e.hub.Patch(bg, "alice", v.ID, nil, []string{"a@x.com"})
	if err != nil {
		t.Fatal(err)
	}
	record(p.Sequence)
	r := e.subscribe("alice", "k", "d@x.com")
	record(r.Sequence)
	e.hub.Update("d@x.com", offline)
	for _, x := range drain(l) {
		record(x.Seq)
	}
	record(e.get("alice", v.ID).Sequence)

	diff(t, "sequences", []uint64{1, 2, 3, 4, 5, 6, 7, 8, 8}, seqs)
}

func TestChangesSince(t *testing.T) {
	e := newEnv(t)
	v := e.subscribe("alice", "k", "a@x.com", "b@x.com", "c@x.com") // seq 1
	e.hub.Update("a@x.com", available)                              // 2
	e.hub.Update("b@x.com", busy)                                   // 3
	e.hub.Update("a@x.com", away)                                   // 4

	full := []ContactPresence{cp("a@x.com", away), cp("b@x.com", busy), cp("c@x.com", pending)}
	tests := []struct {
		since uint64
		want  Changes
	}{
		{0, Changes{Sequence: 4, Full: true, Presence: full}},
		{1, Changes{Sequence: 4, Presence: []ContactPresence{cp("a@x.com", away), cp("b@x.com", busy)}}},
		{2, Changes{Sequence: 4, Presence: []ContactPresence{cp("a@x.com", away), cp("b@x.com", busy)}}},
		{3, Changes{Sequence: 4, Presence: []ContactPresence{cp("a@x.com", away)}}},
		{4, Changes{Sequence: 4, Presence: []ContactPresence{}}},
		{5, Changes{Sequence: 4, Full: true, Presence: full}},
		{1 << 40, Changes{Sequence: 4, Full: true, Presence: full}},
	}
	for _, tt := range tests {
		diff(t, "ChangesSince", tt.want, e.changes("alice", v.ID, tt.since))
		id, err := e.hub.IDForKey("alice", "k")
		if err != nil || id != v.ID {
			t.Fatalf("IDForKey = %q, %v; want %q", id, err, v.ID)
		}
	}

	// Adding keeps the change log: the new contact is a change.
	if _, err := e.hub.Patch(bg, "alice", v.ID, []string{"d@x.com", "a@x.com"}, nil); err != nil { // 5
		t.Fatal(err)
	}
	diff(t, "after add, since 4", Changes{Sequence: 5, Presence: []ContactPresence{cp("d@x.com", pending)}}, e.changes("alice", v.ID, 4))
	diff(t, "after add, since 3", Changes{Sequence: 5, Presence: []ContactPresence{cp("a@x.com", away), cp("d@x.com", pending)}}, e.changes("alice", v.ID, 3))

	// Removing resets it: anything older than the patch is answered in full.
	if _, err := e.hub.Patch(bg, "alice", v.ID, nil, []string{"c@x.com"}); err != nil { // 6
		t.Fatal(err)
	}
	afterRemove := []ContactPresence{cp("a@x.com", away), cp("b@x.com", busy), cp("d@x.com", pending)}
	diff(t, "after remove, since 5", Changes{Sequence: 6, Full: true, Presence: afterRemove}, e.changes("alice", v.ID, 5))
	diff(t, "after remove, since 6", Changes{Sequence: 6, Presence: []ContactPresence{}}, e.changes("alice", v.ID, 6))
	e.hub.Update("b@x.com", offline) // 7
	diff(t, "after remove and a change", Changes{Sequence: 7, Presence: []ContactPresence{cp("b@x.com", offline)}}, e.changes("alice", v.ID, 6))

	// Replacing by key resets it too.
	r := e.subscribe("alice", "k", "b@x.com", "e@x.com") // 8
	diff(t, "after replace, since 7", Changes{Sequence: 8, Full: true, Presence: []ContactPresence{cp("b@x.com", offline), cp("e@x.com", pending)}}, e.changes("alice", r.ID, 7))
	diff(t, "after replace, since 8", Changes{Sequence: 8, Presence: []ContactPresence{}}, e.changes("alice", r.ID, 8))
}

func TestReplaceByKey(t *testing.T) {
	e := newEnv(t)
	first, created, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Key: "phone", Contacts: []string{"a@x.com", "b@x.com"}, PushToken: "tok1"})
	if err != nil || !created {
		t.Fatalf("first Subscribe: created %v err %v", created, err)
	}
	e.hub.Update("b@x.com", busy)
	e.clk.Advance(time.Minute)
	second, created, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Key: "phone", Contacts: []string{"b@x.com", "c@x.com", "b@x.com"}, TTL: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Errorf("replace reported created")
	}
	want := View{
		ID: first.ID, Key: "phone", TTL: 60 * time.Second, ExpiresAt: t0.Add(2 * time.Minute), Sequence: 3,
		Contacts: []string{"b@x.com", "c@x.com"},
		Presence: []ContactPresence{cp("b@x.com", busy), cp("c@x.com", pending)},
	}
	diff(t, "replaced view", want, second)
	diff(t, "List", []View{{ID: first.ID, Key: "phone", TTL: 60 * time.Second, ExpiresAt: t0.Add(2 * time.Minute), Sequence: 3, Contacts: []string{"b@x.com", "c@x.com"}}}, e.hub.List("alice"))
	diff(t, "stored", []store.Subscription{{ID: first.ID, User: "alice", Key: "phone", TTL: 60 * time.Second, ExpiresAt: t0.Add(2 * time.Minute), Sequence: 3, Contacts: []string{"b@x.com", "c@x.com"}}}, e.store.All())
	diff(t, "SetWanted calls", wantCalls("a@x.com", true, "b@x.com", true, "a@x.com", false, "c@x.com", true), e.watches.Calls())

	// Without a key every Subscribe creates; the key is the id.
	x := e.subscribe("alice", "", "a@x.com")
	y := e.subscribe("alice", "", "a@x.com")
	if x.ID == y.ID || x.Key != x.ID || y.Key != y.ID {
		t.Errorf("keyless subscriptions: %q/%q and %q/%q, want distinct ids equal to their keys", x.ID, x.Key, y.ID, y.Key)
	}
	// Another user's same key is their own subscription.
	b := e.subscribe("bob", "phone", "a@x.com")
	if b.ID == first.ID {
		t.Errorf("bob's key phone replaced alice's subscription")
	}
	if got := e.hub.Stats().ClientSubscriptions; got != 4 {
		t.Errorf("ClientSubscriptions = %d, want 4", got)
	}
	checkInvariants(t, e.hub)
}

func TestOtherUsersSubscriptionIsNotFound(t *testing.T) {
	e := newEnv(t)
	v := e.subscribe("alice", "k", "a@x.com")
	ops := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := e.hub.Get("bob", v.ID); return err }},
		{"IDForKey", func() error { _, err := e.hub.IDForKey("bob", "k"); return err }},
		{"ChangesSince", func() error { _, err := e.hub.ChangesSince("bob", v.ID, 0); return err }},
		{"Patch", func() error { _, err := e.hub.Patch(bg, "bob", v.ID, []string{"z@x.com"}, nil); return err }},
		{"Refresh", func() error { _, err := e.hub.Refresh("bob", v.ID); return err }},
		{"Delete", func() error { return e.hub.Delete(bg, "bob", v.ID) }},
		{"unknown id", func() error { _, err := e.hub.Get("alice", "nope"); return err }},
		{"unknown key", func() error { _, err := e.hub.IDForKey("alice", "nope"); return err }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			if err := op.call(); !errors.Is(err, ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
		})
	}
	diff(t, "bob's List", []View{}, e.hub.List("bob"))
	// Nothing of alice's changed.
	want := View{ID: v.ID, Key: "k", TTL: 180 * time.Second, ExpiresAt: t0.Add(180 * time.Second), Sequence: 1,
		Contacts: []string{"a@x.com"}, Presence: []ContactPresence{cp("a@x.com", pending)}}
	diff(t, "alice's subscription", want, e.get("alice", v.ID))
	if n := e.store.Calls(presencetest.OpPut); n != 1 {
		t.Errorf("store Put calls = %d, want 1", n)
	}
}

func TestDelete(t *testing.T) {
	e := newEnv(t)
	v := e.subscribe("alice", "k", "a@x.com")
	w := e.subscribe("alice", "k2", "a@x.com", "b@x.com")

	e.store.Fail(presencetest.OpDelete, presencetest.ErrInjected)
	if err := e.hub.Delete(bg, "alice", v.ID); !errors.Is(err, presencetest.ErrInjected) {
		t.Fatalf("Delete with a failing store: err = %v", err)
	}
	if _, err := e.hub.Get("alice", v.ID); err != nil {
		t.Fatalf("subscription gone although the store refused: %v", err)
	}
	e.store.Fail(presencetest.OpDelete, nil)

	if err := e.hub.Delete(bg, "alice", v.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.hub.Delete(bg, "alice", w.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.hub.Delete(bg, "alice", w.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: err = %v, want ErrNotFound", err)
	}
	diff(t, "stored", []store.Subscription{}, e.store.All())
	diff(t, "Stats", Stats{}, e.hub.Stats())
	diff(t, "SetWanted calls", wantCalls("a@x.com", true, "b@x.com", true, "a@x.com", false, "b@x.com", false), e.watches.Calls())
}

func TestMaxSubscriptionsPerUser(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxSubscriptionsPerUser = 2 })
	e.subscribe("alice", "a", "a@x.com")
	e.subscribe("alice", "b", "a@x.com")
	_, _, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Key: "c", Contacts: []string{"a@x.com"}})
	if !errors.Is(err, ErrTooManySubscriptions) {
		t.Fatalf("third: err = %v, want ErrTooManySubscriptions", err)
	}
	if _, _, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Contacts: []string{"a@x.com"}}); !errors.Is(err, ErrTooManySubscriptions) {
		t.Fatalf("third without key: err = %v, want ErrTooManySubscriptions", err)
	}
	if n := e.store.Calls(presencetest.OpPut); n != 2 {
		t.Errorf("store Put calls = %d, want 2", n)
	}
	e.subscribe("alice", "b", "b@x.com") // replacing is not a new one
	e.subscribe("bob", "c", "a@x.com")   // the limit is per user
	id, _ := e.hub.IDForKey("alice", "a")
	if err := e.hub.Delete(bg, "alice", id); err != nil {
		t.Fatal(err)
	}
	e.subscribe("alice", "c", "a@x.com")
	if got := len(e.hub.List("alice")); got != 2 {
		t.Errorf("alice holds %d subscriptions, want 2", got)
	}
}

func TestTooManyContacts(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxContacts = 3 })
	if _, _, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Contacts: []string{"a@x.com", "b@x.com", "c@x.com", "d@x.com"}}); !errors.Is(err, ErrTooManyContacts) {
		t.Errorf("4 contacts: err = %v, want ErrTooManyContacts", err)
	}
	// Duplicates do not count.
	v := e.subscribe("alice", "", "a@x.com", "b@x.com", "a@x.com", "c@x.com", "b@x.com")
	diff(t, "deduplicated contacts", []string{"a@x.com", "b@x.com", "c@x.com"}, v.Contacts)

	if _, err := e.hub.Patch(bg, "alice", v.ID, []string{"d@x.com"}, nil); !errors.Is(err, ErrTooManyContacts) {
		t.Errorf("Patch to 4: err = %v, want ErrTooManyContacts", err)
	}
	got := e.get("alice", v.ID)
	diff(t, "contacts after refused Patch", []string{"a@x.com", "b@x.com", "c@x.com"}, got.Contacts)
	if got.Sequence != 1 {
		t.Errorf("refused Patch changed the sequence to %d", got.Sequence)
	}
	p, err := e.hub.Patch(bg, "alice", v.ID, []string{"d@x.com"}, []string{"a@x.com"})
	if err != nil {
		t.Fatalf("Patch swapping one: %v", err)
	}
	diff(t, "contacts after swap", []string{"b@x.com", "c@x.com", "d@x.com"}, p.Contacts)
	if n := e.store.Calls(presencetest.OpPut); n != 2 {
		t.Errorf("store Put calls = %d, want 2", n)
	}
}

func TestStoreFailureLeavesNoTrace(t *testing.T) {
	e := newEnv(t)
	v := e.subscribe("alice", "k", "a@x.com")
	e.watches.Take()
	e.store.Fail(presencetest.OpPut, presencetest.ErrInjected)

	if _, _, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Key: "new", Contacts: []string{"b@x.com"}}); !errors.Is(err, presencetest.ErrInjected) {
		t.Errorf("Subscribe: err = %v, want the store's error", err)
	}
	if _, _, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Key: "k", Contacts: []string{"c@x.com"}}); !errors.Is(err, presencetest.ErrInjected) {
		t.Errorf("replace: err = %v, want the store's error", err)
	}
	if _, err := e.hub.Patch(bg, "alice", v.ID, []string{"d@x.com"}, []string{"a@x.com"}); !errors.Is(err, presencetest.ErrInjected) {
		t.Errorf("Patch: err = %v, want the store's error", err)
	}
	diff(t, "SetWanted calls", []presencetest.Want(nil), e.watches.Take())
	want := View{ID: v.ID, Key: "k", TTL: 180 * time.Second, ExpiresAt: t0.Add(180 * time.Second), Sequence: 1,
		Contacts: []string{"a@x.com"}, Presence: []ContactPresence{cp("a@x.com", pending)}}
	diff(t, "subscription", want, e.get("alice", v.ID))
	if got := e.hub.Stats().ClientSubscriptions; got != 1 {
		t.Errorf("ClientSubscriptions = %d, want 1", got)
	}
}

func TestListSortedByKey(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"m", "c", "x", "a"} {
		e.subscribe("alice", k, k+"@x.com")
	}
	var keys []string
	for _, v := range e.hub.List("alice") {
		keys = append(keys, v.Key)
		if v.Presence != nil {
			t.Errorf("List carries presence for %s", v.Key)
		}
	}
	diff(t, "keys", []string{"a", "c", "m", "x"}, keys)
}

// blockingStore holds Put and Delete until released, to interleave an
// expiry with a replace.
type blockingStore struct {
	*presencetest.Store
	putEntered, deleteEntered chan struct{}
	putRelease, deleteRelease chan struct{}
}

func (s *blockingStore) Put(ctx context.Context, sub store.Subscription) error {
	s.putEntered <- struct{}{}
	<-s.putRelease
	return s.Store.Put(ctx, sub)
}

func (s *blockingStore) Delete(ctx context.Context, id string) error {
	close(s.deleteEntered)
	<-s.deleteRelease
	return s.Store.Delete(ctx, id)
}

// A subscription replaced while it is due must not be expired half-way:
// the replace (store write, then install) and the expiry (removal, then
// store delete) are serialised per user, so memory and store agree. Before
// the fix, Sweep removed the subscription and deleted its record while the
// replace was between its store write and its install, leaving a
// subscription in memory that the store had forgotten.
func TestExpiryDoesNotInterleaveWithReplace(t *testing.T) {
	e := newEnv(t)
	v := e.subscribe("alice", "k", "a@x.com")
	bs := &blockingStore{Store: e.store,
		putEntered: make(chan struct{}), deleteEntered: make(chan struct{}),
		putRelease: make(chan struct{}), deleteRelease: make(chan struct{})}
	e.hub.subs = bs
	e.clk.Advance(180 * time.Second) // due

	replaced := make(chan error, 1)
	go func() {
		_, _, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Key: "k", Contacts: []string{"b@x.com"}})
		replaced <- err
	}()
	<-bs.putEntered // the replace has read the subscription; its write is in flight
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		e.hub.Sweep(bg)
	}()
	// A correct Sweep waits for the replace and never deletes; an
	// incorrect one reaches the store's Delete now. Give it a bounded
	// chance to show itself: the outcome asserted below does not depend
	// on how long this takes.
	select {
	case <-bs.deleteEntered:
	case <-time.After(100 * time.Millisecond):
	}
	close(bs.putRelease)
	if err := <-replaced; err != nil {
		t.Fatal(err)
	}
	close(bs.deleteRelease)
	<-swept

	rec, inStore := e.store.Get(v.ID)
	got, err := e.hub.Get("alice", v.ID)
	if err != nil || !inStore {
		t.Fatalf("after replace during expiry: in memory err=%v, in store %v; want both present", err, inStore)
	}
	diff(t, "stored contacts", got.Contacts, rec.Contacts)
	checkInvariants(t, e.hub)
}
