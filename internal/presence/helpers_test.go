package presence

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/clock/clocktest"
	"github.com/presenced/presenced/internal/presence/presencetest"
	"github.com/presenced/presenced/internal/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the manual clock's start in every test.
var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

var bg = context.Background()

// env is a Hub wired to fakes and a manual clock.
type env struct {
	tb      testing.TB
	clk     *clocktest.Clock
	store   *presencetest.Store
	watches *presencetest.Watches
	hints   *hintRecorder
	reg     *prometheus.Registry
	hub     *Hub
}

// testConfig is the configuration of newEnv before its options: no
// coalescing and no linger, so that effects are immediate unless a test
// asks otherwise.
func testConfig() Config {
	return Config{
		SubscriptionTTL:         180 * time.Second,
		MaxContacts:             1000,
		MaxSubscriptionsPerUser: 100,
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(tb testing.TB, opts ...func(*Config)) *env {
	tb.Helper()
	return newEnvWithStore(tb, presencetest.NewStore(), opts...)
}

func newEnvWithStore(tb testing.TB, st *presencetest.Store, opts ...func(*Config)) *env {
	tb.Helper()
	cfg := testConfig()
	for _, o := range opts {
		o(&cfg)
	}
	e := &env{
		tb:      tb,
		clk:     clocktest.New(t0),
		store:   st,
		watches: &presencetest.Watches{},
		hints:   &hintRecorder{},
		reg:     prometheus.NewRegistry(),
	}
	h, err := New(cfg, e.clk, e.watches, e.store, e.hints, discard(), e.reg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	e.hub = h
	return e
}

func withLinger(d time.Duration) func(*Config) { return func(c *Config) { c.WatchLinger = d } }

func withCoalesce(d time.Duration) func(*Config) { return func(c *Config) { c.CoalesceInterval = d } }

// subscribe subscribes and fails the test on error.
func (e *env) subscribe(user, key string, contacts ...string) View {
	e.tb.Helper()
	v, _, err := e.hub.Subscribe(bg, SubscribeRequest{User: user, Key: key, Contacts: contacts})
	if err != nil {
		e.tb.Fatalf("Subscribe(%s, %q, %v): %v", user, key, contacts, err)
	}
	return v
}

func (e *env) get(user, id string) View {
	e.tb.Helper()
	v, err := e.hub.Get(user, id)
	if err != nil {
		e.tb.Fatalf("Get(%s, %s): %v", user, id, err)
	}
	return v
}

func (e *env) changes(user, id string, since uint64) Changes {
	e.tb.Helper()
	c, err := e.hub.ChangesSince(user, id, since)
	if err != nil {
		e.tb.Fatalf("ChangesSince(%s, %s, %d): %v", user, id, since, err)
	}
	return c
}

// counter returns the value of the named counter in e's registry.
func (e *env) counter(name string) float64 {
	e.tb.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.tb.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	e.tb.Fatalf("no metric %s", name)
	return 0
}

// Presences used throughout the tests. Each has an explicit Since so that
// the values the hub delivers are known exactly.
var (
	available = status.Presence{Availability: status.Available, Since: t0.Add(-time.Hour)}
	busy      = status.Presence{Availability: status.Busy, Activity: "InAMeeting", Since: t0.Add(-30 * time.Minute)}
	away      = status.Presence{Availability: status.Away, Note: "lunch", Since: t0.Add(-10 * time.Minute)}
	offline   = status.Presence{Availability: status.Offline, Since: t0.Add(-5 * time.Minute)}
	pending   = status.UnknownBecause(status.Pending)
	notAllow  = status.UnknownBecause(status.DomainNotAllowed)
)

// cp is a ContactPresence literal.
func cp(contact string, p status.Presence) ContactPresence {
	return ContactPresence{Contact: contact, Presence: p}
}

// ev is the comparable form of an Event.
type ev struct {
	Kind     EventKind
	Sub      string
	Seq      uint64
	Contact  string
	Presence status.Presence
}

func summarize(e Event) ev {
	out := ev{Kind: e.Kind, Sub: e.Subscription, Seq: e.Sequence}
	if e.Change != nil {
		out.Contact, out.Presence = e.Change.Contact, e.Change.Presence
	}
	return out
}

// drain returns the events queued to l without waiting.
func drain(l *Listener) []ev {
	var out []ev
	for _, e := range l.Drain(nil) {
		out = append(out, summarize(e))
	}
	return out
}

// changed is the summary of a PresenceChanged event.
func changed(sub string, seq uint64, contact string, p status.Presence) ev {
	return ev{Kind: PresenceChanged, Sub: sub, Seq: seq, Contact: contact, Presence: p}
}

// hintRecorder is a HintSink that keeps every hint.
type hintRecorder struct {
	mu    sync.Mutex
	hints []Hint
}

func (r *hintRecorder) Enqueue(h Hint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hints = append(r.hints, h)
}

func (r *hintRecorder) take() []Hint {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.hints
	r.hints = nil
	return out
}

// fetcher is a Fetcher answering from a map; contacts missing from it fail.
type fetcher struct {
	mu     sync.Mutex
	states map[string]status.Presence
	asked  []string
}

var errNoSuchContact = errors.New("no such contact")

func (f *fetcher) Fetch(_ context.Context, contact string) (status.Presence, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, contact)
	p, ok := f.states[contact]
	if !ok {
		return status.Presence{}, errNoSuchContact
	}
	return p, nil
}

// wantCalls builds an expected list of SetWanted calls from pairs.
func wantCalls(pairs ...any) []presencetest.Want {
	var out []presencetest.Want
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, presencetest.Want{Contact: pairs[i].(string), Wanted: pairs[i+1].(bool)})
	}
	return out
}

// diff fails tb with a go-cmp diff when want and got differ.
func diff(tb testing.TB, what string, want, got any) {
	tb.Helper()
	if d := cmp.Diff(want, got); d != "" {
		tb.Errorf("%s (-want +got):\n%s", what, d)
	}
}

// checkInvariants verifies the Hub's internal bookkeeping: refs and
// members point at each other, wanted contacts have refs or linger, the
// wanted count matches, and every subscription is indexed by its user.
func checkInvariants(tb testing.TB, h *Hub) {
	tb.Helper()
	h.mu.RLock()
	defer h.mu.RUnlock()
	wanted := 0
	for email, c := range h.contacts {
		if c.email != email {
			tb.Errorf("contact %s filed under %s", c.email, email)
		}
		if c.wanted {
			wanted++
			if len(c.refs) == 0 && c.linger == nil {
				tb.Errorf("contact %s is wanted with no refs and no linger", email)
			}
			if !h.allow.Load().Allows(email) {
				tb.Errorf("contact %s is wanted but not allowed", email)
			}
		} else if len(c.refs) > 0 && h.allow.Load().Allows(email) {
			tb.Errorf("contact %s has %d refs and is allowed but not wanted", email, len(c.refs))
		}
		for i, r := range c.refs {
			if h.byID[r.sub.id] != r.sub {
				tb.Errorf("contact %s refers to removed subscription %s", email, r.sub.id)
				continue
			}
			m := r.sub.members[r.idx]
			if m.c != c || int(m.refIdx) != i {
				tb.Errorf("contact %s ref %d does not match member %d of %s", email, i, r.idx, r.sub.id)
			}
		}
	}
	if wanted != h.wanted {
		tb.Errorf("wanted count %d, contacts wanted %d", h.wanted, wanted)
	}
	for id, s := range h.byID {
		if h.users[s.user] != s.owner || s.owner.byKey[s.key] != s {
			tb.Errorf("subscription %s not indexed under its user and key", id)
		}
		for i, m := range s.members {
			if h.contacts[m.c.email] != m.c {
				tb.Errorf("subscription %s member %d (%s) is not the hub's contact", id, i, m.c.email)
			}
		}
	}
	for email, u := range h.users {
		for key, s := range u.byKey {
			if h.byID[s.id] != s || s.key != key || s.user != email {
				tb.Errorf("user %s key %s indexes a stale subscription", email, key)
			}
		}
	}
}

// wantedContacts returns the contacts the hub wants watched, sorted.
func wantedContacts(h *Hub) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := []string{}
	for email, c := range h.contacts {
		if c.wanted {
			out = append(out, email)
		}
	}
	slices.Sort(out)
	return out
}

func diffString(want, got any) string { return cmp.Diff(want, got) }
