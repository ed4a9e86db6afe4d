package presence

import (
	"testing"
	"time"

	"github.com/presenced/presenced/internal/allowlist"
	"github.com/presenced/presenced/internal/presence/presencetest"
	"github.com/presenced/presenced/internal/status"
)

func TestAllowlistDecisions(t *testing.T) {
	contacts := []string{"a@example.com", "b@sub.example.com", "c@other.org", "D@Example.COM", "no-at-sign"}
	tests := []struct {
		name    string
		list    allowlist.List
		allowed []bool // per contact
	}{
		{"off allows all", allowlist.List{}, []bool{true, true, true, true, true}},
		{"off with domains still allows all", allowlist.New(false, []string{"example.com"}), []bool{true, true, true, true, true}},
		{"on and empty allows none", allowlist.New(true, nil), []bool{false, false, false, false, false}},
		{"on with domains allows only those", allowlist.New(true, []string{"example.com"}), []bool{true, false, false, true, false}},
		{"subdomains are listed separately", allowlist.New(true, []string{"sub.example.com", "other.org"}), []bool{false, true, true, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.hub.SetAllowlist(tt.list)
			v := e.subscribe("alice", "", contacts...)

			var wantPresence []ContactPresence
			var wantWanted []presencetest.Want
			var gotAllows []bool
			for i, c := range contacts {
				gotAllows = append(gotAllows, e.hub.Allows(c))
				if tt.allowed[i] {
					wantPresence = append(wantPresence, cp(c, pending))
					wantWanted = append(wantWanted, presencetest.Want{Contact: c, Wanted: true})
				} else {
					wantPresence = append(wantPresence, cp(c, notAllow))
				}
			}
			diff(t, "Allows", tt.allowed, gotAllows)
			diff(t, "presence", wantPresence, v.Presence)
			diff(t, "SetWanted calls", wantWanted, e.watches.Calls())

			var wantQuery []ContactPresence
			for i, c := range contacts {
				if tt.allowed[i] {
					wantQuery = append(wantQuery, cp(c, pending)) // watched (not yet reported)
				} else {
					wantQuery = append(wantQuery, cp(c, notAllow))
				}
			}
			diff(t, "Query", wantQuery, e.hub.Query(bg, contacts, nil))
			checkInvariants(t, e.hub)
		})
	}
}

func TestAllowlistChangeAppliesAtOnce(t *testing.T) {
	e := newEnv(t)
	l := e.hub.Listen("alice", 64)
	defer l.Close()
	s1 := e.subscribe("alice", "1", "a@x.com", "b@y.com")
	s2 := e.subscribe("alice", "2", "a@x.com")
	e.hub.Update("a@x.com", available)
	e.hub.Update("b@y.com", busy)
	drain(l)
	e.watches.Take()

	// Remove x.com: a turns Unknown/domain_not_allowed everywhere, as a
	// change, and loses its watch.
	e.hub.SetAllowlist(allowlist.New(true, []string{"y.com"}))
	diff(t, "SetWanted on removal", wantCalls("a@x.com", false), e.watches.Take())
	got := drain(l)
	sortBySub(got, s1.ID)
	diff(t, "events on removal", []ev{
		changed(s1.ID, 4, "a@x.com", notAllow),
		changed(s2.ID, 3, "a@x.com", notAllow),
	}, got)
	diff(t, "s1 changes", Changes{Sequence: 4, Presence: []ContactPresence{cp("a@x.com", notAllow)}}, e.changes("alice", s1.ID, 3))
	diff(t, "s2 state", []ContactPresence{cp("a@x.com", notAllow)}, e.get("alice", s2.ID).Presence)
	if got := e.hub.Stats().WatchedContacts; got != 1 {
		t.Errorf("WatchedContacts = %d, want 1", got)
	}

	// The backend's late news about a is ignored.
	e.hub.Update("a@x.com", away)
	if got := drain(l); len(got) != 0 {
		t.Errorf("update of a disallowed contact delivered %v", got)
	}
	// Setting the same list again changes nothing.
	e.hub.SetAllowlist(allowlist.New(true, []string{"y.com"}))
	if got := drain(l); len(got) != 0 {
		t.Errorf("re-applying the list delivered %v", got)
	}
	diff(t, "SetWanted on re-apply", []presencetest.Want(nil), e.watches.Take())

	// Add x.com back: a is wanted again and pending until reported.
	e.hub.SetAllowlist(allowlist.New(true, []string{"x.com", "y.com"}))
	diff(t, "SetWanted on re-add", wantCalls("a@x.com", true), e.watches.Take())
	got = drain(l)
	sortBySub(got, s1.ID)
	diff(t, "events on re-add", []ev{
		changed(s1.ID, 5, "a@x.com", pending),
		changed(s2.ID, 4, "a@x.com", pending),
	}, got)
	e.hub.Update("a@x.com", away)
	diff(t, "s2 state after report", []ContactPresence{cp("a@x.com", away)}, e.get("alice", s2.ID).Presence)
	checkInvariants(t, e.hub)

	// Turning the list on empty removes everyone.
	e.hub.SetAllowlist(allowlist.New(true, nil))
	calls := e.watches.Take()
	sortWants(calls)
	diff(t, "SetWanted on empty list", wantCalls("a@x.com", false, "b@y.com", false), calls)
	diff(t, "s1 state", []ContactPresence{cp("a@x.com", notAllow), cp("b@y.com", notAllow)}, e.get("alice", s1.ID).Presence)
	checkInvariants(t, e.hub)
}

// Regression: a contact that was lingering when its domain was removed is
// released at once; its linger timer must not later release the new
// contact of the same email created by a re-subscribe.
func TestAllowlistReleaseOfLingeringContact(t *testing.T) {
	e := newEnv(t, withLinger(10*time.Second))
	v := e.subscribe("alice", "", "a@x.com")
	if err := e.hub.Delete(bg, "alice", v.ID); err != nil {
		t.Fatal(err)
	}
	e.hub.SetAllowlist(allowlist.New(true, []string{"y.com"}))
	e.hub.SetAllowlist(allowlist.List{})
	w := e.subscribe("alice", "", "a@x.com")
	e.clk.Advance(10 * time.Second) // the old linger would fire now
	diff(t, "SetWanted calls", wantCalls("a@x.com", true, "a@x.com", false, "a@x.com", true), e.watches.Calls())

	e.hub.Update("a@x.com", available)
	diff(t, "presence", []ContactPresence{cp("a@x.com", available)}, e.get("alice", w.ID).Presence)
	diff(t, "Stats", Stats{ClientSubscriptions: 1, WatchedContacts: 1, Contacts: 1, Users: 1}, e.hub.Stats())
	checkInvariants(t, e.hub)
}

func sortBySub(evs []ev, first string) {
	if len(evs) == 2 && evs[1].Sub == first {
		evs[0], evs[1] = evs[1], evs[0]
	}
}

func sortWants(w []presencetest.Want) {
	for i := 1; i < len(w); i++ {
		for j := i; j > 0 && w[j].Contact < w[j-1].Contact; j-- {
			w[j], w[j-1] = w[j-1], w[j]
		}
	}
}

func TestQuery(t *testing.T) {
	e := newEnv(t)
	e.hub.SetAllowlist(allowlist.New(true, []string{"x.com"}))
	e.subscribe("alice", "", "watched@x.com", "pending@x.com")
	e.hub.Update("watched@x.com", busy)
	f := &fetcher{states: map[string]status.Presence{
		"unwatched@x.com": away,
		"watched@x.com":   offline, // must not be asked
	}}
	order := []string{"unwatched@x.com", "blocked@y.com", "watched@x.com", "fails@x.com", "pending@x.com", "unwatched@x.com"}
	got := e.hub.Query(bg, order, f)
	diff(t, "Query", []ContactPresence{
		cp("unwatched@x.com", away),
		cp("blocked@y.com", notAllow),
		cp("watched@x.com", busy),
		cp("fails@x.com", status.UnknownBecause(status.BackendError)),
		cp("pending@x.com", pending),
		cp("unwatched@x.com", away),
	}, got)
	diff(t, "fetched", []string{"unwatched@x.com", "fails@x.com", "unwatched@x.com"}, f.asked)

	// Without a fetcher, unwatched contacts are Unknown with no reason.
	diff(t, "Query without fetch", []ContactPresence{cp("unwatched@x.com", status.Presence{}), cp("watched@x.com", busy)},
		e.hub.Query(bg, []string{"unwatched@x.com", "watched@x.com"}, nil))
	diff(t, "empty Query", []ContactPresence{}, e.hub.Query(bg, nil, f))

	// A query creates nothing and asks for no watch.
	if got := e.hub.Stats().Contacts; got != 2 {
		t.Errorf("Contacts = %d after queries, want 2", got)
	}
	diff(t, "SetWanted calls", wantCalls("watched@x.com", true, "pending@x.com", true), e.watches.Calls())
}
