package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/presenced/presenced/internal/clock/clocktest"
	"github.com/presenced/presenced/internal/directory"
	"github.com/presenced/presenced/internal/directory/directorytest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var (
	alice  = directorytest.User{Mail: "alice@example.com", SAMAccountName: "alice", DisplayName: "Alice Example", Address: "sip:alice@example.com"}
	bob    = directorytest.User{Mail: "bob@example.com", SAMAccountName: "bob"}
	down   = fmt.Errorf("dial: %w", directory.ErrUnavailable)
	start0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	byMail = map[string]directorytest.User{alice.Mail: alice, bob.Mail: bob}
)

func TestConformance(t *testing.T) {
	directorytest.Run(t, func(t *testing.T) directorytest.Harness {
		f := directorytest.NewFake()
		return directorytest.Harness{Directory: New(f, Config{}), AddUsers: f.AddUsers}
	})
}

// step is one action on a cache in front of a Fake holding alice, then a
// Lookup and what it should show.
type step struct {
	advance time.Duration
	fail    error               // passed to Fake.Fail before the Lookup
	add     *directorytest.User // added to the Fake before the Lookup
	email   string
	wantErr error // nil: want the entry of the user with this email
	calls   int   // Fake lookups made so far
}

func TestLookup(t *testing.T) {
	ttl, neg := 10*time.Minute, time.Minute
	tests := []struct {
		name    string
		cfg     Config
		steps   []step
		results map[string]float64 // presenced_directory_lookups_total by result
	}{
		{
			name: "hit, any case",
			steps: []step{
				{email: "alice@example.com", calls: 1},
				{email: "ALICE@example.com", calls: 1},
				{advance: ttl - time.Nanosecond, email: "alice@example.COM", calls: 1},
			},
			results: map[string]float64{"miss": 1, "hit": 2},
		},
		{
			name: "expiry",
			steps: []step{
				{email: "alice@example.com", calls: 1},
				{advance: ttl, email: "alice@example.com", calls: 2},
				{advance: ttl / 2, email: "alice@example.com", calls: 2},
			},
			results: map[string]float64{"miss": 2, "hit": 1},
		},
		{
			name: "negative caching until the negative TTL",
			steps: []step{
				{email: "bob@example.com", wantErr: directory.ErrNotFound, calls: 1},
				{add: &bob, advance: neg - time.Nanosecond, email: "bob@example.com", wantErr: directory.ErrNotFound, calls: 1},
				{advance: time.Nanosecond, email: "bob@example.com", calls: 2},
				{email: "bob@example.com", calls: 2},
			},
			results: map[string]float64{"miss": 2, "negative_hit": 1, "hit": 1},
		},
		{
			name: "unavailable is not cached",
			steps: []step{
				{fail: down, email: "alice@example.com", wantErr: directory.ErrUnavailable, calls: 1},
				{fail: down, email: "alice@example.com", wantErr: directory.ErrUnavailable, calls: 2},
				{email: "alice@example.com", calls: 3},
				{fail: down, email: "alice@example.com", calls: 3},
			},
			results: map[string]float64{"error": 2, "miss": 1, "hit": 1},
		},
		{
			name: "invalid is not cached",
			steps: []step{
				{email: "not an email", wantErr: directory.ErrInvalid, calls: 1},
				{email: "not an email", wantErr: directory.ErrInvalid, calls: 2},
			},
			results: map[string]float64{"error": 2},
		},
		{
			name: "custom TTLs",
			cfg:  Config{TTL: time.Second, NegativeTTL: 2 * time.Second},
			steps: []step{
				{email: "alice@example.com", calls: 1},
				{email: "bob@example.com", wantErr: directory.ErrNotFound, calls: 2},
				{advance: time.Second, email: "alice@example.com", calls: 3},
				{email: "bob@example.com", wantErr: directory.ErrNotFound, calls: 3},
				{advance: time.Second, email: "bob@example.com", wantErr: directory.ErrNotFound, calls: 4},
			},
			results: map[string]float64{"miss": 4, "negative_hit": 1},
		},
		{
			name: "caching disabled",
			cfg:  Config{TTL: -1, NegativeTTL: -1},
			steps: []step{
				{email: "alice@example.com", calls: 1},
				{email: "alice@example.com", calls: 2},
				{email: "bob@example.com", wantErr: directory.ErrNotFound, calls: 3},
				{email: "bob@example.com", wantErr: directory.ErrNotFound, calls: 4},
			},
			results: map[string]float64{"miss": 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := directorytest.NewFake(alice)
			clk := clocktest.New(start0)
			reg := prometheus.NewPedanticRegistry()
			tt.cfg.Clock, tt.cfg.Registerer = clk, reg
			c := New(f, tt.cfg)
			for i, s := range tt.steps {
				clk.Advance(s.advance)
				f.Fail(s.fail)
				if s.add != nil {
					if err := f.AddUsers(t.Context(), []directorytest.User{*s.add}); err != nil {
						t.Fatal(err)
					}
				}
				got, err := c.Lookup(t.Context(), s.email)
				switch {
				case s.wantErr != nil && !errors.Is(err, s.wantErr):
					t.Errorf("step %d: Lookup(%s) = %+v, %v; want %v", i, s.email, got, err, s.wantErr)
				case s.wantErr == nil && err != nil:
					t.Errorf("step %d: Lookup(%s): %v", i, s.email, err)
				case s.wantErr == nil:
					want := byMail[strings.ToLower(s.email)].Entry()
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("step %d: Lookup(%s) (-want +got):\n%s", i, s.email, diff)
					}
				}
				if n := f.Lookups(); n != s.calls {
					t.Errorf("step %d: %d lookups reached the directory, want %d", i, n, s.calls)
				}
			}
			if diff := cmp.Diff(tt.results, lookupCounts(t, reg)); diff != "" {
				t.Errorf("presenced_directory_lookups_total (-want +got):\n%s", diff)
			}
			if got, want := histogramCount(t, reg, "lookup"), float64(tt.steps[len(tt.steps)-1].calls); got != want {
				t.Errorf("query_seconds{op=lookup} count = %v, want %v", got, want)
			}
		})
	}
}

// lookupCounts returns the lookups_total counters that are not zero.
func lookupCounts(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		if mf.GetName() != "presenced_directory_lookups_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

// histogramCount returns the sample count of query_seconds{op}.
func histogramCount(t *testing.T, reg *prometheus.Registry, op string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "presenced_directory_query_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == op {
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

// blocking is a Directory whose Lookups each announce themselves on
// entered and then wait for release (or their context) before asking the
// Fake.
type blocking struct {
	*directorytest.Fake
	entered chan struct{}
	release chan struct{}
}

func newBlocking(users ...directorytest.User) *blocking {
	return &blocking{Fake: directorytest.NewFake(users...), entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (b *blocking) Lookup(ctx context.Context, email string) (directory.Entry, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
		return directory.Entry{}, fmt.Errorf("lookup %s: %w: %w", email, directory.ErrUnavailable, ctx.Err())
	}
	return b.Fake.Lookup(ctx, email)
}

func TestCollapsing(t *testing.T) {
	const n = 50
	tests := []struct {
		name    string
		email   string
		wantErr error
	}{
		{"found", "alice@example.com", nil},
		{"not found", "nobody@example.com", directory.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBlocking(alice)
			c := New(b, Config{Clock: clocktest.New(start0)})
			var joined sync.WaitGroup
			joined.Add(n - 1)
			c.onJoin = joined.Done
			type result struct {
				e   directory.Entry
				err error
			}
			results := make(chan result, n)
			for range n {
				go func() {
					e, err := c.Lookup(t.Context(), tt.email)
					results <- result{e, err}
				}()
			}
			<-b.entered   // one caller asks the directory...
			joined.Wait() // ...and the other 49 wait for it
			close(b.release)
			want, wantErr := b.Fake.Lookup(t.Context(), tt.email)
			for range n {
				r := <-results
				if !errors.Is(r.err, tt.wantErr) || (tt.wantErr == nil && r.err != nil) {
					t.Errorf("Lookup = %v, want %v", r.err, wantErr)
				}
				if diff := cmp.Diff(want, r.e); diff != "" {
					t.Errorf("Lookup (-want +got):\n%s", diff)
				}
			}
			if got := b.Lookups(); got != 2 { // the collapsed call and ours
				t.Errorf("%d lookups reached the directory, want 1", got-1)
			}
		})
	}
}

func TestCollapsingLeaderGivesUp(t *testing.T) {
	b := newBlocking(alice)
	c := New(b, Config{Clock: clocktest.New(start0)})
	joined := make(chan struct{}, 1)
	c.onJoin = func() { joined <- struct{}{} }

	leaderCtx, cancelLeader := context.WithCancel(t.Context())
	leader := make(chan error, 1)
	go func() {
		_, err := c.Lookup(leaderCtx, alice.Mail)
		leader <- err
	}()
	<-b.entered
	follower := make(chan error, 1)
	var got directory.Entry
	go func() {
		var err error
		got, err = c.Lookup(t.Context(), alice.Mail)
		follower <- err
	}()
	<-joined
	cancelLeader()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled leader's Lookup = %v, want context.Canceled", err)
	}
	<-b.entered // the follower asks again
	close(b.release)
	if err := <-follower; err != nil {
		t.Fatalf("follower's Lookup: %v", err)
	}
	if diff := cmp.Diff(alice.Entry(), got); diff != "" {
		t.Errorf("follower's Lookup (-want +got):\n%s", diff)
	}
}

func TestEviction(t *testing.T) {
	const max = 3
	var users []directorytest.User
	for i := range 5 {
		users = append(users, directorytest.User{Mail: fmt.Sprintf("u%d@example.com", i), SAMAccountName: fmt.Sprintf("u%d", i)})
	}
	f := directorytest.NewFake(users...)
	reg := prometheus.NewPedanticRegistry()
	c := New(f, Config{MaxEntries: max, Clock: clocktest.New(start0), Registerer: reg})
	lookup := func(email string) {
		t.Helper()
		if _, err := c.Lookup(t.Context(), email); err != nil && !errors.Is(err, directory.ErrNotFound) {
			t.Fatal(err)
		}
	}
	for _, u := range users {
		lookup(u.Mail)
	}
	lookup("nobody@example.com") // negative entries count too
	if got := c.Len(); got != max {
		t.Errorf("Len() = %d, want %d", got, max)
	}
	if got := testutil.ToFloat64(c.metrics.entries); got != max {
		t.Errorf("cache_entries = %v, want %d", got, max)
	}
	// Held now, most recent first: nobody, u4, u3.
	calls := f.Lookups()
	lookup(users[3].Mail) // a hit, which saves u3: u3, nobody, u4
	lookup(users[0].Mail) // a miss, evicting u4: u0, u3, nobody
	lookup(users[4].Mail) // a miss, evicting nobody
	if got, want := f.Lookups()-calls, 2; got != want {
		t.Errorf("%d lookups reached the directory, want %d (u0 and u4 evicted, u3 held)", got, want)
	}
}

func TestSearchAndHealthy(t *testing.T) {
	f := directorytest.NewFake(alice, bob)
	reg := prometheus.NewPedanticRegistry()
	c := New(f, Config{Clock: clocktest.New(start0), Registerer: reg})
	for range 2 {
		got, err := c.Search(t.Context(), "alice", 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]directory.Card{alice.Card()}, got); diff != "" {
			t.Errorf("Search (-want +got):\n%s", diff)
		}
	}
	if got := histogramCount(t, reg, "search"); got != 2 {
		t.Errorf("query_seconds{op=search} count = %v, want 2 (Search is not cached)", got)
	}
	if err := c.Healthy(t.Context()); err != nil {
		t.Errorf("Healthy = %v, want nil", err)
	}
	f.Fail(down)
	if err := c.Healthy(t.Context()); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("Healthy of a failing directory = %v, want ErrUnavailable", err)
	}
	if _, err := c.Search(t.Context(), "alice", 10); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("Search of a failing directory = %v, want ErrUnavailable", err)
	}
}

// plain is a Directory that is no HealthChecker.
type plain struct{ directory.Directory }

func TestHealthyWithoutChecker(t *testing.T) {
	c := New(plain{directorytest.NewFake()}, Config{})
	if err := c.Healthy(t.Context()); err != nil {
		t.Errorf("Healthy = %v, want nil for a directory without HealthChecker", err)
	}
}

func TestTwoCachesOneRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a := New(directorytest.NewFake(alice), Config{Registerer: reg})
	b := New(directorytest.NewFake(bob), Config{Registerer: reg})
	for _, l := range []struct {
		c     *Cache
		email string
	}{{a, alice.Mail}, {b, bob.Mail}} {
		if _, err := l.c.Lookup(t.Context(), l.email); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(map[string]float64{"miss": 2}, lookupCounts(t, reg)); diff != "" {
		t.Errorf("lookups_total (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(a.metrics.entries); got != 2 {
		t.Errorf("cache_entries = %v, want 2 (both caches)", got)
	}
}

func TestAuthenticate(t *testing.T) {
	const group = "cn=admins,cn=Users,dc=example,dc=com"
	f := directorytest.NewFake(alice, bob)
	f.SetPassword(alice.Mail, "old-pw")
	f.SetGroup(group, alice.Mail)
	reg := prometheus.NewPedanticRegistry()
	c := New(f, Config{Clock: clocktest.New(start0), Registerer: reg})
	want := directory.Account{DN: f.UserDN(alice), Mail: alice.Mail, SAMAccountName: alice.SAMAccountName}
	for range 2 {
		got, err := c.Authenticate(t.Context(), alice.Mail, "old-pw", group)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Authenticate (-want +got):\n%s", diff)
		}
	}
	// Not cached: changes count at once.
	f.SetPassword(alice.Mail, "new-pw")
	if _, err := c.Authenticate(t.Context(), alice.Mail, "old-pw", group); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("Authenticate with the old password = %v, want ErrBadCredentials", err)
	}
	f.SetGroup(group, bob.Mail)
	if _, err := c.Authenticate(t.Context(), alice.Mail, "new-pw", group); !errors.Is(err, directory.ErrNotMember) {
		t.Errorf("Authenticate after leaving the group = %v, want ErrNotMember", err)
	}
	f.Fail(down)
	if _, err := c.Authenticate(t.Context(), alice.Mail, "new-pw", group); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("Authenticate of a failing directory = %v, want ErrUnavailable", err)
	}
	if got := f.Authentications(); got != 5 {
		t.Errorf("%d Authenticate calls reached the directory, want 5", got)
	}
	if got := histogramCount(t, reg, "authenticate"); got != 5 {
		t.Errorf("query_seconds{op=authenticate} count = %v, want 5", got)
	}
	if c.Len() != 0 {
		t.Errorf("cache holds %d entries after Authenticate, want 0", c.Len())
	}

	t.Run("directory without Authenticator", func(t *testing.T) {
		c := New(plain{f}, Config{})
		_, err := c.Authenticate(t.Context(), alice.Mail, "new-pw", group)
		if !errors.Is(err, directory.ErrUnavailable) || !strings.Contains(err.Error(), "cannot authenticate") {
			t.Errorf("Authenticate = %v, want ErrUnavailable saying the directory cannot authenticate", err)
		}
	})
}

type closingDirectory struct {
	directory.Directory
	closed int
}

func (c *closingDirectory) Close() error { c.closed++; return nil }

func TestCloseClosesTheDirectory(t *testing.T) {
	d := &closingDirectory{Directory: directorytest.NewFake()}
	c := New(d, Config{})
	if err := c.Close(); err != nil || d.closed != 1 {
		t.Fatalf("Close = %v, closed %d times; want nil, once", err, d.closed)
	}
	if err := New(directorytest.NewFake(), Config{}).Close(); err != nil {
		t.Fatalf("Close of a directory without Close = %v", err)
	}
}
