package adminauth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/clock/clocktest"
)

const goodPassword = "correct horse battery"

type fixture struct {
	m        *Manager
	clk      *clocktest.Clock
	accounts *Memory
	log      *bytes.Buffer
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	clk := clocktest.New(t0)
	accounts := &Memory{}
	var log bytes.Buffer
	m := NewManager(accounts, newTestHasher(t, 0), clk, cfg, slog.New(slog.NewTextHandler(&log, nil)))
	return &fixture{m: m, clk: clk, accounts: accounts, log: &log}
}

func (f *fixture) addAccount(t *testing.T, name string) {
	t.Helper()
	if _, err := f.m.CreateAccount(context.Background(), name, goodPassword); err != nil {
		t.Fatal(err)
	}
}

var (
	ip1 = netip.MustParseAddr("192.0.2.1")
	ip2 = netip.MustParseAddr("192.0.2.2")
)

// outcome summarises an Authenticate result for comparison.
func outcome(err error) string {
	var locked *LockedError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &locked):
		return "locked " + locked.RetryAfter.String()
	case errors.Is(err, ErrInvalidCredentials):
		return "invalid"
	}
	return "error: " + err.Error()
}

func TestLoginRateLimit(t *testing.T) {
	type attempt struct {
		advance time.Duration
		name    string
		pw      string
		ip      netip.Addr
		want    string
	}
	fail := func(name string, ip netip.Addr, want string) attempt {
		return attempt{0, name, "wrong password!!", ip, want}
	}
	tests := []struct {
		name     string
		attempts []attempt
	}{
		{"account locked after 5 failures, even for the right password", []attempt{
			fail("alice", ip1, "invalid"), fail("alice", ip1, "invalid"), fail("alice", ip1, "invalid"),
			fail("alice", ip1, "invalid"), fail("alice", ip1, "invalid"),
			{0, "alice", goodPassword, ip2, "locked 15m0s"},
			{10 * time.Minute, "alice", goodPassword, ip2, "locked 5m0s"},
			{5 * time.Minute, "alice", goodPassword, ip2, "ok"},
		}},
		{"address locked across account names", []attempt{
			fail("alice", ip1, "invalid"), fail("bob", ip1, "invalid"), fail("nobody", ip1, "invalid"),
			fail("x y", ip1, "invalid"), fail("carol", ip1, "invalid"),
			{0, "bob", goodPassword, ip1, "locked 15m0s"},
			{0, "bob", goodPassword, ip2, "ok"},
		}},
		{"failures older than the window are forgotten", []attempt{
			fail("alice", ip1, "invalid"), fail("alice", ip1, "invalid"), fail("alice", ip1, "invalid"),
			fail("alice", ip1, "invalid"),
			{15 * time.Minute, "alice", "wrong password!!", ip1, "invalid"},
			fail("alice", ip1, "invalid"),
			{0, "alice", goodPassword, ip1, "ok"},
		}},
		{"success resets the account's count", []attempt{
			fail("alice", ip1, "invalid"), fail("alice", ip1, "invalid"), fail("alice", ip1, "invalid"),
			fail("alice", ip1, "invalid"),
			{0, "alice", goodPassword, ip2, "ok"},
			fail("alice", ip2, "invalid"), fail("alice", ip2, "invalid"),
			{0, "alice", goodPassword, ip2, "ok"},
		}},
		{"unknown names lock like known ones", []attempt{
			fail("nobody", ip1, "invalid"), fail("nobody", ip1, "invalid"), fail("nobody", ip1, "invalid"),
			fail("nobody", ip1, "invalid"), fail("nobody", ip1, "invalid"),
			{0, "nobody", goodPassword, ip2, "locked 15m0s"},
		}},
		{"IPv6 clients are counted by /64", []attempt{
			fail("alice", netip.MustParseAddr("2001:db8::1"), "invalid"),
			fail("bob", netip.MustParseAddr("2001:db8::2"), "invalid"),
			fail("carol", netip.MustParseAddr("2001:db8::3"), "invalid"),
			fail("dave", netip.MustParseAddr("2001:db8::4"), "invalid"),
			fail("erin", netip.MustParseAddr("2001:db8::5"), "invalid"),
			{0, "bob", goodPassword, netip.MustParseAddr("2001:db8::ffff"), "locked 15m0s"},
			{0, "bob", goodPassword, netip.MustParseAddr("2001:db8:0:1::1"), "ok"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			f.addAccount(t, "alice")
			f.addAccount(t, "bob")
			var got, want []string
			for _, a := range tt.attempts {
				f.clk.Advance(a.advance)
				_, err := f.m.Authenticate(context.Background(), a.name, a.pw, a.ip)
				got = append(got, outcome(err))
				want = append(want, a.want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
		})
	}
}

// recordingDerive wraps argon2 and records the salts it was called with.
type recordingDerive struct {
	next  deriveFunc
	salts [][]byte
}

func (r *recordingDerive) derive(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	r.salts = append(r.salts, append([]byte(nil), salt...))
	return r.next(pw, salt, time, memory, threads, keyLen)
}

func TestUnknownAccountUsesDummyHash(t *testing.T) {
	f := newFixture(t, Config{})
	f.addAccount(t, "alice")
	alice, err := f.accounts.Get(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := parsePHC(alice.Hash)
	if err != nil {
		t.Fatal(err)
	}
	h := f.m.hasher
	rec := &recordingDerive{next: h.derive}
	h.derive = rec.derive

	tests := []struct {
		name, account string
		wantSalt      []byte
	}{
		{"unknown account", "mallory", h.dummy.Salt},
		{"invalid name", "not a name!", h.dummy.Salt},
		{"known account", "alice", stored.Salt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.salts = nil
			_, err := f.m.Authenticate(context.Background(), tt.account, "wrong password!!", ip1)
			if !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("Authenticate error = %v, want ErrInvalidCredentials", err)
			}
			if diff := cmp.Diff([][]byte{tt.wantSalt}, rec.salts); diff != "" {
				t.Errorf("hashes computed (salts, -want +got):\n%s", diff)
			}
		})
	}
	if h.dummy.Params != testParams {
		t.Errorf("dummy params %+v, want the hasher's %+v so the cost matches", h.dummy.Params, testParams)
	}
}

func TestSetPasswordEndsSessions(t *testing.T) {
	f := newFixture(t, Config{})
	f.addAccount(t, "alice")
	id, _ := f.m.Sessions().Create("alice")
	const newPassword = "a much better passphrase"
	if err := f.m.SetPassword(context.Background(), "alice", newPassword); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.m.Sessions().Lookup(id); ok {
		t.Error("session survived the password change")
	}
	got := []string{
		outcome(second(f.m.Authenticate(context.Background(), "alice", goodPassword, ip1))),
		outcome(second(f.m.Authenticate(context.Background(), "alice", newPassword, ip1))),
	}
	if diff := cmp.Diff([]string{"invalid", "ok"}, got); diff != "" {
		t.Errorf("old, new password (-want +got):\n%s", diff)
	}
	if err := f.m.SetPassword(context.Background(), "nobody", newPassword); !errors.Is(err, ErrNoAccount) {
		t.Errorf("SetPassword of an unknown account: %v, want ErrNoAccount", err)
	}
}

func TestLoginUpgradesOldHash(t *testing.T) {
	f := newFixture(t, Config{})
	weak, err := NewHasher(Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}, 0)
	if err != nil {
		t.Fatal(err)
	}
	old, err := weak.Hash(context.Background(), goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.accounts.Create(context.Background(), Account{Name: "alice", Hash: old, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(context.Background(), "alice", goodPassword, ip1); err != nil {
		t.Fatal(err)
	}
	a, err := f.accounts.Get(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if f.m.hasher.NeedsRehash(a.Hash) {
		t.Errorf("hash after login %q still has the old parameters", a.Hash)
	}
}

func second[T any](_ T, err error) error { return err }

func TestMemoryAccounts(t *testing.T) {
	ctx := context.Background()
	var m Memory
	if _, err := m.Get(ctx, "alice"); !errors.Is(err, ErrNoAccount) {
		t.Errorf("Get on empty: %v, want ErrNoAccount", err)
	}
	for _, a := range []Account{{Name: "bob", Hash: "h1", CreatedAt: t0}, {Name: "alice", Hash: "h2", CreatedAt: t0}} {
		if err := m.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Create(ctx, Account{Name: "bob"}); !errors.Is(err, ErrAccountExists) {
		t.Errorf("second Create: %v, want ErrAccountExists", err)
	}
	if err := m.SetPassword(ctx, "bob", "h3"); err != nil {
		t.Fatal(err)
	}
	if err := m.SetPassword(ctx, "carol", "h3"); !errors.Is(err, ErrNoAccount) {
		t.Errorf("SetPassword of unknown: %v, want ErrNoAccount", err)
	}
	got, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Account{{Name: "alice", Hash: "h2", CreatedAt: t0}, {Name: "bob", Hash: "h3", CreatedAt: t0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"alice", true}, {"Alice.Admin-2_x@corp", true}, {"", false}, {"a b", false},
		{"ä", false}, {"a\n", false}, {string(bytes.Repeat([]byte("a"), MaxNameLen)), true},
		{string(bytes.Repeat([]byte("a"), MaxNameLen+1)), false},
	}
	for _, tt := range tests {
		if err := ValidName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
