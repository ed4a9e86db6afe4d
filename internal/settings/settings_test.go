package settings_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/allowlist"
	"github.com/presenced/presenced/internal/presence"
	"github.com/presenced/presenced/internal/settings"
	"github.com/presenced/presenced/internal/store"
)

// fakeStore is an in-memory store.SettingsStore that can fail on demand.
// Like a real store it keeps and hands out copies.
type fakeStore struct {
	mu     sync.Mutex
	s      *store.Settings // nil before the first Put; guarded by mu
	puts   int             // successful Puts; guarded by mu
	getErr error           // returned by Get when set; guarded by mu
	putErr error           // returned by Put when set; guarded by mu
	// putErrAfter, when set, makes every Put after the next one fail.
	putErrAfter error // guarded by mu
}

var _ store.SettingsStore = (*fakeStore)(nil)

func newFakeStore(s *store.Settings) *fakeStore {
	f := &fakeStore{}
	if s != nil {
		c := copySettings(*s)
		f.s = &c
	}
	return f
}

func (f *fakeStore) Get(context.Context) (store.Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getErr != nil {
		return store.Settings{}, f.getErr
	}
	if f.s == nil {
		return store.Settings{}, store.ErrNotFound
	}
	return copySettings(*f.s), nil
}

func (f *fakeStore) Put(_ context.Context, s store.Settings) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.putErr != nil {
		return f.putErr
	}
	if f.putErrAfter != nil {
		f.putErr, f.putErrAfter = f.putErrAfter, nil
	}
	c := copySettings(s)
	f.s = &c
	f.puts++
	return nil
}

func (f *fakeStore) failPut(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.putErr = err
}

// stored returns the stored record (nil before the first Put) and the
// number of successful Puts.
func (f *fakeStore) stored() (*store.Settings, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.s == nil {
		return nil, f.puts
	}
	c := copySettings(*f.s)
	return &c, f.puts
}

// copySettings deep-copies s, keeping a nil domain list nil so that tests
// see exactly what was stored.
func copySettings(s store.Settings) store.Settings {
	if s.AllowlistDomains != nil {
		s.AllowlistDomains = slices.Clone(s.AllowlistDomains)
	}
	return s
}

// call is one call the fake applier received.
type call struct {
	Op      string // "SetTTL" or "SetAllowlist"
	TTL     time.Duration
	Enabled bool
	Domains []string
}

func ttlCall(d time.Duration) call { return call{Op: "SetTTL", TTL: d} }

func listCall(enabled bool, domains ...string) call {
	if domains == nil {
		domains = []string{}
	}
	return call{Op: "SetAllowlist", Enabled: enabled, Domains: domains}
}

// applied is the pair of calls one successful apply makes.
func applied(s store.Settings) []call {
	return []call{ttlCall(s.SubscriptionTTL), listCall(s.AllowlistEnabled, s.AllowlistDomains...)}
}

// fakeApplier records what it is given. Like the hub it refuses a TTL
// outside presence.MinTTL..MaxTTL; ttlErr makes every SetTTL fail.
type fakeApplier struct {
	mu     sync.Mutex
	calls  []call           // guarded by mu
	lists  []allowlist.List // every list received, in order; guarded by mu
	ttlErr error            // guarded by mu
}

var _ settings.Applier = (*fakeApplier)(nil)

func (a *fakeApplier) SetTTL(d time.Duration) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ttlErr != nil {
		return a.ttlErr
	}
	if d < presence.MinTTL || d > presence.MaxTTL {
		return fmt.Errorf("fake hub: %w: %v", presence.ErrInvalidTTL, d)
	}
	a.calls = append(a.calls, ttlCall(d))
	return nil
}

func (a *fakeApplier) SetAllowlist(l allowlist.List) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, listCall(l.Enabled(), l.Domains()...))
	a.lists = append(a.lists, l)
}

func (a *fakeApplier) failTTL(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ttlErr = err
}

// received returns the calls recorded so far.
func (a *fakeApplier) received() []call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// lastList returns the last allowlist received.
func (a *fakeApplier) lastList(t *testing.T) allowlist.List {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.lists) == 0 {
		t.Fatal("no allowlist was applied")
	}
	return a.lists[len(a.lists)-1]
}

var errDisk = errors.New("disk on fire")

func ptr[T any](v T) *T { return &v }

// base is the state most Update tests start from.
func base() store.Settings {
	return store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistEnabled: false, AllowlistDomains: []string{"a.com", "b.org"}}
}

// loaded returns a Manager over a store already holding s, and clears
// the applier's record of the initial apply.
// wantUnchanged checks that a failed Update returned zero settings and
// left the manager, the store and the appliers as base() had them.
func wantUnchanged(t *testing.T, m *settings.Manager, st *fakeStore, ap *fakeApplier, before, after store.Settings) {
	t.Helper()
	if diff := cmp.Diff(store.Settings{}, before); diff != "" {
		t.Errorf("before on error (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(store.Settings{}, after); diff != "" {
		t.Errorf("after on error (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(base(), m.Get()); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	gotStored, _ := st.stored()
	if diff := cmp.Diff(ptr(base()), gotStored); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	if got := ap.received(); len(got) != 0 {
		t.Errorf("applied %v, want nothing", got)
	}
}

func loaded(t *testing.T, s store.Settings) (*settings.Manager, *fakeStore, *fakeApplier) {
	t.Helper()
	st := newFakeStore(&s)
	ap := &fakeApplier{}
	m, err := settings.Load(context.Background(), st, ap, store.Settings{SubscriptionTTL: time.Hour})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if diff := cmp.Diff(applied(s), ap.received()); diff != "" {
		t.Fatalf("Load applied (-want +got):\n%s", diff)
	}
	ap.mu.Lock()
	ap.calls, ap.lists = nil, nil
	ap.mu.Unlock()
	return m, st, ap
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name        string
		stored      *store.Settings // nil: first start
		seed        store.Settings
		want        store.Settings  // Get after Load
		wantStored  *store.Settings // nil: same as want
		wantPuts    int
		wantApplied []call
	}{
		{
			name:        "first start stores and applies the seed",
			seed:        store.Settings{SubscriptionTTL: 300 * time.Second, AllowlistEnabled: true, AllowlistDomains: []string{"example.com"}},
			want:        store.Settings{SubscriptionTTL: 300 * time.Second, AllowlistEnabled: true, AllowlistDomains: []string{"example.com"}},
			wantPuts:    1,
			wantApplied: []call{ttlCall(300 * time.Second), listCall(true, "example.com")},
		},
		{
			name:        "first start normalises the seed's domains",
			seed:        store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{"B.org; a.com", "a.com", "example.COM."}},
			want:        store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{"a.com", "b.org", "example.com"}},
			wantPuts:    1,
			wantApplied: []call{ttlCall(180 * time.Second), listCall(false, "a.com", "b.org", "example.com")},
		},
		{
			name:        "first start stores a nil seed list as empty",
			seed:        store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistEnabled: true},
			want:        store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistEnabled: true, AllowlistDomains: []string{}},
			wantPuts:    1,
			wantApplied: []call{ttlCall(180 * time.Second), listCall(true)},
		},
		{
			name:        "stored settings win over the seed",
			stored:      &store.Settings{SubscriptionTTL: 600 * time.Second, AllowlistEnabled: true, AllowlistDomains: []string{"b.org"}},
			seed:        store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{"seed.com"}},
			want:        store.Settings{SubscriptionTTL: 600 * time.Second, AllowlistEnabled: true, AllowlistDomains: []string{"b.org"}},
			wantApplied: []call{ttlCall(600 * time.Second), listCall(true, "b.org")},
		},
		{
			name:        "stored settings win even when the seed is invalid",
			stored:      &store.Settings{SubscriptionTTL: 60 * time.Second, AllowlistDomains: []string{}},
			seed:        store.Settings{AllowlistDomains: []string{"not a_domain"}},
			want:        store.Settings{SubscriptionTTL: 60 * time.Second, AllowlistDomains: []string{}},
			wantApplied: []call{ttlCall(60 * time.Second), listCall(false)},
		},
		{
			name:        "stored nil domain list reads as empty",
			stored:      &store.Settings{SubscriptionTTL: 60 * time.Second, AllowlistEnabled: true},
			seed:        store.Settings{SubscriptionTTL: 180 * time.Second},
			want:        store.Settings{SubscriptionTTL: 60 * time.Second, AllowlistEnabled: true, AllowlistDomains: []string{}},
			wantStored:  &store.Settings{SubscriptionTTL: 60 * time.Second, AllowlistEnabled: true},
			wantApplied: []call{ttlCall(60 * time.Second), listCall(true)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeStore(tt.stored)
			ap := &fakeApplier{}
			m, err := settings.Load(context.Background(), st, ap, tt.seed)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tt.want, m.Get()); diff != "" {
				t.Errorf("Get (-want +got):\n%s", diff)
			}
			wantStored := tt.wantStored
			if wantStored == nil {
				wantStored = &tt.want
			}
			gotStored, puts := st.stored()
			if diff := cmp.Diff(wantStored, gotStored); diff != "" {
				t.Errorf("stored (-want +got):\n%s", diff)
			}
			if puts != tt.wantPuts {
				t.Errorf("Puts = %d, want %d", puts, tt.wantPuts)
			}
			if diff := cmp.Diff(tt.wantApplied, ap.received()); diff != "" {
				t.Errorf("applied (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	valid := store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{"a.com"}}
	tests := []struct {
		name       string
		stored     *store.Settings
		getErr     error
		putErr     error
		ttlErr     error
		seed       store.Settings
		wantIs     error           // the error must wrap this
		wantStored *store.Settings // what the store holds afterwards
		// wantApplied is what the applier received. Only a seed is
		// applied before it is stored (so that a refused seed is never
		// kept); a failed Load stops the start-up anyway.
		wantApplied []call
	}{
		{name: "store Get fails", getErr: errDisk, seed: valid, wantIs: errDisk},
		{name: "seeding Put fails", putErr: errDisk, seed: valid, wantIs: errDisk, wantApplied: applied(valid)},
		{name: "seed TTL zero", seed: store.Settings{}, wantIs: settings.ErrInvalid},
		{name: "seed TTL below minimum", seed: store.Settings{SubscriptionTTL: 9 * time.Second}, wantIs: settings.ErrInvalid},
		{name: "seed TTL above maximum", seed: store.Settings{SubscriptionTTL: 86401 * time.Second}, wantIs: settings.ErrInvalid},
		{name: "seed domain invalid", seed: store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{"a.com", "bad_domain"}}, wantIs: settings.ErrInvalid},
		{name: "applier refuses the seed", ttlErr: errDisk, seed: valid, wantIs: errDisk},
		{
			name:       "applier refuses stored settings",
			stored:     &store.Settings{SubscriptionTTL: 5 * time.Second, AllowlistDomains: []string{}},
			seed:       valid,
			wantIs:     presence.ErrInvalidTTL,
			wantStored: &store.Settings{SubscriptionTTL: 5 * time.Second, AllowlistDomains: []string{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeStore(tt.stored)
			st.getErr, st.putErr = tt.getErr, tt.putErr
			ap := &fakeApplier{ttlErr: tt.ttlErr}
			m, err := settings.Load(context.Background(), st, ap, tt.seed)
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("Load error = %v, want one wrapping %v", err, tt.wantIs)
			}
			if m != nil {
				t.Errorf("Load returned a Manager with error %v", err)
			}
			st.getErr, st.putErr = nil, nil
			gotStored, _ := st.stored()
			if diff := cmp.Diff(tt.wantStored, gotStored); diff != "" {
				t.Errorf("stored (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantApplied, ap.received()); diff != "" {
				t.Errorf("applied (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadRejectedSeedIsNotKept guards against a seed that cannot be
// applied being persisted: every later start would then load it and fail,
// whatever the configuration said.
func TestLoadRejectedSeedIsNotKept(t *testing.T) {
	ctx := context.Background()
	st := newFakeStore(nil)
	if _, err := settings.Load(ctx, st, &fakeApplier{}, store.Settings{SubscriptionTTL: time.Second}); err == nil {
		t.Fatal("Load with a 1s seed TTL succeeded")
	}
	good := store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{}}
	m, err := settings.Load(ctx, st, &fakeApplier{}, good)
	if err != nil {
		t.Fatalf("Load after the configuration was fixed: %v", err)
	}
	if diff := cmp.Diff(good, m.Get()); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
}

func TestUpdate(t *testing.T) {
	tests := []struct {
		name   string
		change settings.Change
		want   store.Settings // after
	}{
		{
			name:   "empty change keeps everything",
			change: settings.Change{},
			want:   base(),
		},
		{
			name:   "TTL only",
			change: settings.Change{SubscriptionTTL: ptr(300 * time.Second)},
			want:   store.Settings{SubscriptionTTL: 300 * time.Second, AllowlistDomains: []string{"a.com", "b.org"}},
		},
		{
			name:   "TTL minimum 10s accepted",
			change: settings.Change{SubscriptionTTL: ptr(10 * time.Second)},
			want:   store.Settings{SubscriptionTTL: 10 * time.Second, AllowlistDomains: []string{"a.com", "b.org"}},
		},
		{
			name:   "TTL maximum 86400s accepted",
			change: settings.Change{SubscriptionTTL: ptr(86400 * time.Second)},
			want:   store.Settings{SubscriptionTTL: 86400 * time.Second, AllowlistDomains: []string{"a.com", "b.org"}},
		},
		{
			name:   "enabled only",
			change: settings.Change{AllowlistEnabled: ptr(true)},
			want:   store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistEnabled: true, AllowlistDomains: []string{"a.com", "b.org"}},
		},
		{
			name:   "domains only replace the list",
			change: settings.Change{AllowlistDomains: ptr([]string{"c.net"})},
			want:   store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{"c.net"}},
		},
		{
			name:   "domains replaced by an empty list",
			change: settings.Change{AllowlistDomains: ptr([]string{})},
			want:   store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{}},
		},
		{
			name:   "domains replaced by separators only",
			change: settings.Change{AllowlistDomains: ptr([]string{" ,; \n"})},
			want:   store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{}},
		},
		{
			name:   "domain input with every separator, mixed case, duplicates",
			change: settings.Change{AllowlistDomains: ptr([]string{"Z.com,y.com;X.com w.com\nv.com\r\nu.com\tT.COM", "x.com", "Y.Com"})},
			want:   store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{"t.com", "u.com", "v.com", "w.com", "x.com", "y.com", "z.com"}},
		},
		{
			name:   "domain with trailing dot",
			change: settings.Change{AllowlistDomains: ptr([]string{"example.com."})},
			want:   store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{"example.com"}},
		},
		{
			name:   "add domains merges, de-duplicates and sorts",
			change: settings.Change{AddDomains: []string{"C.net; A.com", "0.io"}},
			want:   store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{"0.io", "a.com", "b.org", "c.net"}},
		},
		{
			name:   "add only separators changes nothing",
			change: settings.Change{AddDomains: []string{" ; "}},
			want:   base(),
		},
		{
			name:   "remove a domain",
			change: settings.Change{RemoveDomains: []string{"a.com"}},
			want:   store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{"b.org"}},
		},
		{
			name:   "remove is case-insensitive",
			change: settings.Change{RemoveDomains: []string{"B.ORG"}},
			want:   store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{"a.com"}},
		},
		{
			name:   "remove an absent domain is harmless",
			change: settings.Change{RemoveDomains: []string{"absent.com"}},
			want:   base(),
		},
		{
			name:   "remove several and the last one",
			change: settings.Change{RemoveDomains: []string{"a.com; b.org, absent.com"}},
			want:   store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{}},
		},
		{
			name:   "add and remove together",
			change: settings.Change{AddDomains: []string{"c.net"}, RemoveDomains: []string{"a.com"}},
			want:   store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{"b.org", "c.net"}},
		},
		{
			name: "every field at once",
			change: settings.Change{
				SubscriptionTTL:  ptr(45 * time.Second),
				AllowlistEnabled: ptr(true),
				AllowlistDomains: ptr([]string{"x.com y.com"}),
			},
			want: store.Settings{SubscriptionTTL: 45 * time.Second, AllowlistEnabled: true, AllowlistDomains: []string{"x.com", "y.com"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, st, ap := loaded(t, base())
			before, after, err := m.Update(context.Background(), tt.change)
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			if diff := cmp.Diff(base(), before); diff != "" {
				t.Errorf("before (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, after); diff != "" {
				t.Errorf("after (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, m.Get()); diff != "" {
				t.Errorf("Get (-want +got):\n%s", diff)
			}
			gotStored, _ := st.stored()
			if diff := cmp.Diff(&tt.want, gotStored); diff != "" {
				t.Errorf("stored (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(applied(tt.want), ap.received()); diff != "" {
				t.Errorf("applied (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUpdateInvalid checks that a refused change persists, applies and
// changes nothing, even when other fields of it are valid.
func TestUpdateInvalid(t *testing.T) {
	tests := []struct {
		name   string
		change settings.Change
	}{
		{"TTL 9s", settings.Change{SubscriptionTTL: ptr(9 * time.Second)}},
		{"TTL 86401s", settings.Change{SubscriptionTTL: ptr(86401 * time.Second)}},
		{"TTL zero", settings.Change{SubscriptionTTL: ptr(time.Duration(0))}},
		{"TTL negative", settings.Change{SubscriptionTTL: ptr(-time.Minute)}},
		{"TTL just under 10s", settings.Change{SubscriptionTTL: ptr(10*time.Second - time.Nanosecond)}},
		{"invalid TTL with valid domains", settings.Change{SubscriptionTTL: ptr(9 * time.Second), AllowlistDomains: ptr([]string{"c.net"})}},
		{"invalid replacement domain", settings.Change{AllowlistDomains: ptr([]string{"c.net, bad_domain"})}},
		{"replacement domain with empty label", settings.Change{AllowlistDomains: ptr([]string{"a..com"})}},
		{"invalid domain with valid TTL", settings.Change{SubscriptionTTL: ptr(time.Minute), AllowlistEnabled: ptr(true), AllowlistDomains: ptr([]string{"-a.com"})}},
		{"invalid added domain", settings.Change{AddDomains: []string{"c.net; ex ample!.com"}}},
		{"invalid removed domain", settings.Change{RemoveDomains: []string{"a.com", "b_org"}}},
		{"valid add with invalid remove", settings.Change{AddDomains: []string{"c.net"}, RemoveDomains: []string{"@"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, st, ap := loaded(t, base())
			before, after, err := m.Update(context.Background(), tt.change)
			if !errors.Is(err, settings.ErrInvalid) {
				t.Fatalf("Update error = %v, want one wrapping ErrInvalid", err)
			}
			wantUnchanged(t, m, st, ap, before, after)
			if _, puts := st.stored(); puts != 0 {
				t.Errorf("Puts = %d, want 0", puts)
			}
			preview, err := m.Preview(tt.change)
			if !errors.Is(err, settings.ErrInvalid) {
				t.Errorf("Preview error = %v, want one wrapping ErrInvalid", err)
			}
			if diff := cmp.Diff(store.Settings{}, preview); diff != "" {
				t.Errorf("Preview on error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUpdateFailures checks that a change the store or the applier
// refuses leaves the current, stored and applied settings as they were.
func TestUpdateFailures(t *testing.T) {
	change := settings.Change{SubscriptionTTL: ptr(time.Minute), AllowlistEnabled: ptr(true), AddDomains: []string{"c.net"}}
	tests := []struct {
		name   string
		putErr error
		ttlErr error
	}{
		{name: "store Put fails", putErr: errDisk},
		{name: "applier refuses", ttlErr: errDisk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, st, ap := loaded(t, base())
			st.failPut(tt.putErr)
			ap.failTTL(tt.ttlErr)
			before, after, err := m.Update(context.Background(), change)
			if !errors.Is(err, errDisk) {
				t.Fatalf("Update error = %v, want one wrapping %v", err, errDisk)
			}
			if errors.Is(err, settings.ErrInvalid) {
				t.Errorf("Update error %v wraps ErrInvalid; the change was valid", err)
			}
			wantUnchanged(t, m, st, ap, before, after)

			// Once the fault clears, the same change goes through.
			st.failPut(nil)
			ap.failTTL(nil)
			if _, _, err := m.Update(context.Background(), change); err != nil {
				t.Fatalf("Update after the fault cleared: %v", err)
			}
			want := store.Settings{SubscriptionTTL: time.Minute, AllowlistEnabled: true, AllowlistDomains: []string{"a.com", "b.org", "c.net"}}
			if diff := cmp.Diff(want, m.Get()); diff != "" {
				t.Errorf("Get after retry (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUpdateRestoreFails covers the worst case: the applier refuses and
// the store then refuses to take the previous record back. The error says
// both, and the Manager and the applier keep the previous settings.
func TestUpdateRestoreFails(t *testing.T) {
	m, st, ap := loaded(t, base())
	errRestore := errors.New("restore refused")
	ap.failTTL(errDisk)
	st.mu.Lock()
	st.putErrAfter = errRestore
	st.mu.Unlock()
	_, _, err := m.Update(context.Background(), settings.Change{SubscriptionTTL: ptr(time.Minute)})
	for _, want := range []error{errDisk, errRestore} {
		if !errors.Is(err, want) {
			t.Errorf("Update error = %v, want one wrapping %v", err, want)
		}
	}
	if diff := cmp.Diff(base(), m.Get()); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	if got := ap.received(); len(got) != 0 {
		t.Errorf("applied %v, want nothing", got)
	}
}

func TestPreview(t *testing.T) {
	m, st, ap := loaded(t, base())
	got, err := m.Preview(settings.Change{SubscriptionTTL: ptr(20 * time.Second), AllowlistEnabled: ptr(true), AddDomains: []string{"C.net"}, RemoveDomains: []string{"a.com"}})
	if err != nil {
		t.Fatalf("Preview: %v", err)
	}
	want := store.Settings{SubscriptionTTL: 20 * time.Second, AllowlistEnabled: true, AllowlistDomains: []string{"b.org", "c.net"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Preview (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(base(), m.Get()); diff != "" {
		t.Errorf("Get after Preview (-want +got):\n%s", diff)
	}
	if _, puts := st.stored(); puts != 0 {
		t.Errorf("Preview made %d Puts, want 0", puts)
	}
	if calls := ap.received(); len(calls) != 0 {
		t.Errorf("Preview applied %v, want nothing", calls)
	}

	// A preview's result is the caller's: changing it changes nothing.
	got.AllowlistDomains[0] = "mutated.com"
	if diff := cmp.Diff(base(), m.Get()); diff != "" {
		t.Errorf("Get after mutating the preview (-want +got):\n%s", diff)
	}
}

// TestCopies checks that no slice handed in or out is shared with the
// Manager's state.
func TestCopies(t *testing.T) {
	ctx := context.Background()
	seed := store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{"a.com", "b.org"}}
	m, err := settings.Load(ctx, newFakeStore(nil), &fakeApplier{}, seed)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	seed.AllowlistDomains[0] = "seed-mutated.com"

	g := m.Get()
	g.AllowlistDomains[0] = "get-mutated.com"
	g.AllowlistEnabled = true

	domains := []string{"c.net", "d.net"}
	before, after, err := m.Update(ctx, settings.Change{AllowlistDomains: &domains})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if diff := cmp.Diff(base(), before); diff != "" {
		t.Errorf("before (-want +got):\n%s", diff)
	}
	domains[0] = "input-mutated.com"
	before.AllowlistDomains[0] = "before-mutated.com"
	after.AllowlistDomains[0] = "after-mutated.com"

	want := store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{"c.net", "d.net"}}
	if diff := cmp.Diff(want, m.Get()); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	// The next change starts from the Manager's own state.
	_, after, err = m.Update(ctx, settings.Change{AddDomains: []string{"e.net"}})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want.AllowlistDomains = append(want.AllowlistDomains, "e.net")
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("after second update (-want +got):\n%s", diff)
	}
}

// TestAppliedAllowlist checks that what reaches the hub decides per
// PRODUCT.md §3.
func TestAppliedAllowlist(t *testing.T) {
	contacts := []string{"ann@a.com", "bob@B.org", "cid@c.net", "dan@sub.a.com", "nodomain"}
	tests := []struct {
		name   string
		change settings.Change
		want   map[string]bool
	}{
		{
			name:   "off allows every domain",
			change: settings.Change{AllowlistEnabled: ptr(false), AllowlistDomains: ptr([]string{"a.com"})},
			want:   map[string]bool{"ann@a.com": true, "bob@B.org": true, "cid@c.net": true, "dan@sub.a.com": true, "nodomain": true},
		},
		{
			name:   "on with an empty list allows none",
			change: settings.Change{AllowlistEnabled: ptr(true), AllowlistDomains: ptr([]string{})},
			want:   map[string]bool{"ann@a.com": false, "bob@B.org": false, "cid@c.net": false, "dan@sub.a.com": false, "nodomain": false},
		},
		{
			name:   "on after removing the last domain allows none",
			change: settings.Change{AllowlistEnabled: ptr(true), RemoveDomains: []string{"a.com b.org"}},
			want:   map[string]bool{"ann@a.com": false, "bob@B.org": false, "cid@c.net": false, "dan@sub.a.com": false, "nodomain": false},
		},
		{
			name:   "on with domains allows only those",
			change: settings.Change{AllowlistEnabled: ptr(true), AllowlistDomains: ptr([]string{"A.com; b.ORG"})},
			want:   map[string]bool{"ann@a.com": true, "bob@B.org": true, "cid@c.net": false, "dan@sub.a.com": false, "nodomain": false},
		},
		{
			name:   "on after adding a domain allows it too",
			change: settings.Change{AllowlistEnabled: ptr(true), AddDomains: []string{"C.NET"}},
			want:   map[string]bool{"ann@a.com": true, "bob@B.org": true, "cid@c.net": true, "dan@sub.a.com": false, "nodomain": false},
		},
		{
			name:   "on after removing a domain refuses it",
			change: settings.Change{AllowlistEnabled: ptr(true), RemoveDomains: []string{"A.COM"}},
			want:   map[string]bool{"ann@a.com": false, "bob@B.org": true, "cid@c.net": false, "dan@sub.a.com": false, "nodomain": false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, ap := loaded(t, base())
			if _, _, err := m.Update(context.Background(), tt.change); err != nil {
				t.Fatalf("Update: %v", err)
			}
			l := ap.lastList(t)
			got := make(map[string]bool, len(contacts))
			for _, c := range contacts {
				got[c] = l.Allows(c)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Allows (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConcurrentUpdates runs Updates, Previews and Gets at once (meant
// for -race) and checks that the changes were serialised: the before/after
// pairs form one chain, the applier saw the chain in order, and the
// stored, applied and current settings agree at the end.
func TestConcurrentUpdates(t *testing.T) {
	const workers, perWorker = 4, 25
	start := store.Settings{SubscriptionTTL: 180 * time.Second, AllowlistDomains: []string{}}
	m, st, ap := loaded(t, start)

	type pair struct{ before, after store.Settings }
	pairs := make(chan pair, workers*perWorker)
	errs := make(chan error, workers*perWorker)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				// Each Update adds a domain of its own, so every state
				// has a distinct number of domains.
				c := settings.Change{
					SubscriptionTTL:  ptr(time.Duration(10+w*perWorker+i) * time.Second),
					AllowlistEnabled: ptr(i%2 == 0),
					AddDomains:       []string{fmt.Sprintf("w%d-%d.example", w, i)},
				}
				before, after, err := m.Update(context.Background(), c)
				if err != nil {
					errs <- err
					return
				}
				pairs <- pair{before, after}
				_ = m.Get()
				if _, err := m.Preview(settings.Change{RemoveDomains: []string{"w0-0.example"}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(pairs)
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Update: %v", err)
	}

	var chain []pair
	for p := range pairs {
		chain = append(chain, p)
	}
	slices.SortFunc(chain, func(a, b pair) int { return len(a.before.AllowlistDomains) - len(b.before.AllowlistDomains) })
	if len(chain) != workers*perWorker {
		t.Fatalf("%d updates succeeded, want %d", len(chain), workers*perWorker)
	}
	if diff := cmp.Diff(start, chain[0].before); diff != "" {
		t.Errorf("first before (-want +got):\n%s", diff)
	}
	var wantApplied []call
	for i, p := range chain {
		if i > 0 {
			if diff := cmp.Diff(chain[i-1].after, p.before); diff != "" {
				t.Fatalf("update %d did not start where update %d ended (-prev after +before):\n%s", i, i-1, diff)
			}
		}
		wantApplied = append(wantApplied, applied(p.after)...)
	}
	last := chain[len(chain)-1].after
	if n := len(last.AllowlistDomains); n != workers*perWorker {
		t.Errorf("final list has %d domains, want %d (an add was lost)", n, workers*perWorker)
	}
	if diff := cmp.Diff(last, m.Get()); diff != "" {
		t.Errorf("Get vs last after (-want +got):\n%s", diff)
	}
	gotStored, puts := st.stored()
	if diff := cmp.Diff(&last, gotStored); diff != "" {
		t.Errorf("stored vs last after (-want +got):\n%s", diff)
	}
	if puts != workers*perWorker {
		t.Errorf("Puts = %d, want %d", puts, workers*perWorker)
	}
	if diff := cmp.Diff(wantApplied, ap.received()); diff != "" {
		t.Errorf("applied sequence (-want +got):\n%s", diff)
	}
}
