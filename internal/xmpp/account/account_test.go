package account

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/clock/clocktest"
	"github.com/presenced/presenced/internal/xmpp/ejabberdtest"
	"github.com/presenced/presenced/internal/xmpp/prosodytest"
	"github.com/presenced/presenced/internal/xmpp/xmpptestclient"
)

// TestMain fails the package if a test leaves a goroutine running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor bounds every wait for the servers; it only turns a hang into a
// failure.
const waitFor = 20 * time.Second

// server is what the suite needs of a test XMPP server.
type server struct {
	addr, domain string
	pool         *x509.CertPool
	addUsers     func(tb testing.TB, users map[string]string)
	restart      func(tb testing.TB)
	logTail      func(n int) string
}

func TestProsody(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	runSuite(t, server{
		addr: srv.C2SAddr(), domain: srv.Domain(), pool: srv.CAPool(),
		addUsers: func(tb testing.TB, users map[string]string) {
			for u, p := range users {
				srv.AddUser(tb, u, p)
			}
		},
		restart: srv.Restart, logTail: srv.LogTail,
	})
}

func TestEjabberd(t *testing.T) {
	srv := ejabberdtest.Start(t, ejabberdtest.Options{})
	runSuite(t, server{
		addr: srv.C2SAddr(), domain: srv.Domain(), pool: srv.CertPool(),
		addUsers: srv.AddUsers, restart: srv.Restart, logTail: srv.LogTail,
	})
}

// runSuite runs the endpoint-account behaviour against one server, in
// order: each subtest builds on the roster the previous ones left.
func runSuite(t *testing.T, srv server) {
	users := map[string]string{"ep1": "ep1-secret", "bob": "bob-secret", "carol": "carol-secret", "dave": "dave-secret"}
	for i := range 100 {
		users[fmt.Sprintf("c%03d", i)] = "c-secret"
	}
	srv.addUsers(t, users)
	jid := func(user string) string { return user + "@" + srv.domain }
	tlsConfig := &tls.Config{RootCAs: srv.pool, ServerName: srv.domain}
	dial := func(t *testing.T, user, resource string) *xmpptestclient.Client {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		c, err := xmpptestclient.Dial(ctx, srv.addr, jid(user)+"/"+resource, users[user], tlsConfig)
		if err != nil {
			t.Fatalf("%v\n--- server log ---\n%s", err, srv.logTail(30))
		}
		go drain(c)
		return c
	}

	rec := &presenceLog{}
	states := &stateLog{}
	ep := startSession(t, Config{
		Addr: srv.addr, JID: jid("ep1"), Password: users["ep1"], TLS: tlsConfig,
		RetryBase: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond,
		Logger: testLogger(t), OnPresence: rec.add, OnState: states.add,
	})
	eventually(t, "ep1 connected", func() bool { return ep.Health() == nil })
	ctx, cancel := context.WithTimeout(context.Background(), 5*waitFor)
	defer cancel()

	t.Run("watch an online contact", func(t *testing.T) {
		bob := dial(t, "bob", "phone")
		defer bob.Close()
		if err := bob.SendPresence("", "", 0); err != nil {
			t.Fatal(err)
		}
		if err := ep.Watch(ctx, jid("bob")); err != nil {
			t.Fatal(err)
		}
		// bob's client approves; the server then sends his presence.
		rec.wait(t, "bob available", func(p seen) bool { return p.From == jid("bob")+"/phone" && p.Type == "" })
		if err := bob.SendPresence("away", "at lunch", 1); err != nil {
			t.Fatal(err)
		}
		got := rec.wait(t, "bob away", func(p seen) bool { return p.Show == "away" })
		want := seen{From: jid("bob") + "/phone", Show: "away", Status: "at lunch", Priority: 1}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("presence (-want +got):\n%s", diff)
		}
		wantRoster(t, ep, Item{JID: jid("bob"), Subscription: "to"})
		// Watching again changes nothing.
		if err := ep.Watch(ctx, jid("bob")); err != nil {
			t.Fatal(err)
		}
		wantRoster(t, ep, Item{JID: jid("bob"), Subscription: "to"})
	})

	t.Run("raw presence", func(t *testing.T) {
		raw := rec.lastRaw(jid("bob") + "/phone")
		if !strings.HasPrefix(string(raw), "<presence") || !strings.HasSuffix(string(raw), ">") {
			t.Fatalf("raw presence is not one element: %q", raw)
		}
	})

	t.Run("contact offline at watch time", func(t *testing.T) {
		if err := ep.Watch(ctx, jid("carol")); err != nil {
			t.Fatal(err)
		}
		wantRoster(t, ep, Item{JID: jid("bob"), Subscription: "to"},
			Item{JID: jid("carol"), Subscription: "none", Pending: true})
		carol := dial(t, "carol", "desk")
		defer carol.Close()
		// The server hands carol the stored request once she is available;
		// her client approves it.
		if err := carol.SendPresence("chat", "here", 0); err != nil {
			t.Fatal(err)
		}
		rec.wait(t, "carol's presence after approval at login",
			func(p seen) bool { return p.From == jid("carol")+"/desk" && p.Show == "chat" })
		wantRoster(t, ep, Item{JID: jid("bob"), Subscription: "to"}, Item{JID: jid("carol"), Subscription: "to"})
	})

	t.Run("unwatch", func(t *testing.T) {
		bob := dial(t, "bob", "phone")
		defer bob.Close()
		if err := ep.Unwatch(ctx, jid("bob")); err != nil {
			t.Fatal(err)
		}
		wantRoster(t, ep, Item{JID: jid("carol"), Subscription: "to"})
		if err := ep.Unwatch(ctx, jid("bob")); err != nil {
			t.Fatalf("second Unwatch: %v", err)
		}
		from := rec.count()
		if err := bob.SendPresence("dnd", "after unwatch", 0); err != nil {
			t.Fatal(err)
		}
		// A round trip makes sure the server has handled bob's presence
		// before carol's marker.
		if _, err := bob.Roster(ctx); err != nil {
			t.Fatal(err)
		}
		carol := dial(t, "carol", "desk")
		defer carol.Close()
		if err := carol.SendPresence("xa", "marker", 0); err != nil {
			t.Fatal(err)
		}
		rec.wait(t, "carol's marker", func(p seen) bool { return p.Status == "marker" })
		for _, p := range rec.since(from) {
			if strings.HasPrefix(p.From, jid("bob")) && p.Type == "" {
				t.Errorf("presence from bob after Unwatch: %+v", p)
			}
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		clk := clocktest.New(time.Unix(0, 0))
		bad := startSession(t, Config{
			Addr: srv.addr, JID: jid("dave"), Password: "wrong", TLS: tlsConfig,
			KeepAlive: -1, RetryBase: time.Second, RetryMax: 4 * time.Second, Clock: clk,
			Logger: testLogger(t),
		})
		for attempt := 1; attempt <= 3; attempt++ {
			// The backoff timer is armed once the attempt has failed.
			eventually(t, fmt.Sprintf("attempt %d failed", attempt), func() bool { return clk.Pending() == 1 })
			if err := bad.Health(); !errors.Is(err, ErrNotAuthorized) || !errors.Is(err, ErrNotConnected) {
				t.Fatalf("Health after attempt %d = %v, want not connected, not authorized", attempt, err)
			}
			clk.Advance(4 * time.Second) // at least the jittered delay
		}
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		clk := clocktest.New(time.Unix(0, 0))
		bad := startSession(t, Config{
			Addr: srv.addr, JID: jid("dave"), Password: users["dave"],
			TLS: &tls.Config{RootCAs: x509.NewCertPool(), ServerName: srv.domain}, Clock: clk,
			Logger: testLogger(t),
		})
		eventually(t, "attempt failed", func() bool { return clk.Pending() == 1 })
		var unknown x509.UnknownAuthorityError
		if err := bad.Health(); !errors.As(err, &unknown) {
			t.Fatalf("Health = %v, want an unknown-authority error", err)
		}
	})

	t.Run("keepalive", func(t *testing.T) {
		p := startProxy(t, srv.addr)
		clk := clocktest.New(time.Unix(0, 0))
		st := &stateLog{}
		const period = 10 * time.Second
		s := startSession(t, Config{
			Addr: p.addr(), JID: jid("dave"), Password: users["dave"], TLS: tlsConfig,
			KeepAlive: period, RetryBase: time.Second, RetryMax: time.Second, Clock: clk,
			Logger: testLogger(t), OnState: st.add,
		})
		eventually(t, "connected", func() bool { return s.Health() == nil })
		// ping makes the keepalive tick and waits until the ping is sent.
		ping := func() {
			seq, _ := requests(s)
			clk.Advance(period)
			eventually(t, "ping sent", func() bool { n, _ := requests(s); return n > seq })
		}
		for range 3 {
			ping()
			eventually(t, "ping answered", func() bool { _, open := requests(s); return open == 0 })
		}
		if n := st.ups(); n != 1 {
			t.Fatalf("%d connections while pings were answered, want 1", n)
		}
		p.blackhole.Store(true)
		ping()
		clk.Advance(period)
		eventually(t, "keepalive failure", func() bool { return errors.Is(s.Health(), ErrKeepAlive) })
		p.blackhole.Store(false)
		eventually(t, "backoff armed", func() bool { return clk.Pending() == 1 })
		clk.Advance(time.Second)
		eventually(t, "reconnected", func() bool { return st.ups() == 2 && s.Health() == nil })
	})

	t.Run("server restart", func(t *testing.T) {
		ups := states.ups()
		begin := time.Now()
		srv.restart(t)
		eventually(t, "reconnected", func() bool { return states.ups() > ups && ep.Health() == nil })
		t.Logf("reconnected %v after the restart began", time.Since(begin).Round(time.Millisecond))
		carol := dial(t, "carol", "tablet")
		defer carol.Close()
		if err := carol.SendPresence("dnd", "after restart", 0); err != nil {
			t.Fatal(err)
		}
		rec.wait(t, "carol after restart", func(p seen) bool { return p.Status == "after restart" })
		wantRoster(t, ep, Item{JID: jid("carol"), Subscription: "to"})
	})

	t.Run("watch 100 contacts", func(t *testing.T) {
		var contacts []string
		for i := range 100 {
			contacts = append(contacts, jid(fmt.Sprintf("c%03d", i)))
		}
		begin := time.Now()
		for _, c := range contacts {
			if err := ep.Watch(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		watch := time.Since(begin)
		begin = time.Now()
		items, err := ep.Roster(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fetch := time.Since(begin)
		if len(items) != 101 {
			t.Fatalf("roster has %d items, want 101", len(items))
		}
		begin = time.Now()
		for _, c := range contacts {
			if err := ep.Unwatch(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		unwatch := time.Since(begin)
		t.Logf("100 sequential Watch: %v (%v each); Roster of 101: %v; 100 Unwatch: %v (%v each)",
			watch.Round(time.Millisecond), (watch / 100).Round(time.Microsecond), fetch.Round(time.Microsecond),
			unwatch.Round(time.Millisecond), (unwatch / 100).Round(time.Microsecond))
		wantRoster(t, ep, Item{JID: jid("carol"), Subscription: "to"})
	})
}

// requests returns the number of requests the live stream has sent and
// how many are still open.
func requests(s *Session) (sent uint64, open int) {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq, len(c.pending)
}

// startSession runs a Session until the test ends and checks that Run
// returns the context's error.
func startSession(t *testing.T, cfg Config) *Session {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	})
	return s
}

// wantRoster polls the roster until it equals want (approvals are
// asynchronous).
func wantRoster(t *testing.T, s *Session, want ...Item) {
	t.Helper()
	var got []Item
	var err error
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		got, err = s.Roster(ctx)
		cancel()
		if err == nil && cmp.Equal(want, got) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("roster (-want +got), last error %v:\n%s", err, cmp.Diff(want, got))
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// drain discards what a test client receives.
func drain(c *xmpptestclient.Client) {
	for range c.Presences() {
	}
}

// testLogger logs to the test.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// seen is what the tests check of a received presence.
type seen struct {
	From     string `xml:"from,attr"`
	Type     string `xml:"type,attr"`
	Show     string `xml:"show"`
	Status   string `xml:"status"`
	Priority int    `xml:"priority"`
}

// presenceLog collects what OnPresence receives.
type presenceLog struct {
	mu  sync.Mutex
	got []seen
	raw [][]byte
}

func (r *presenceLog) add(raw []byte) {
	var p seen
	if err := xml.Unmarshal(raw, &p); err != nil {
		p = seen{Type: "unparsable: " + err.Error()}
	}
	r.mu.Lock()
	r.got = append(r.got, p)
	r.raw = append(r.raw, raw)
	r.mu.Unlock()
}

func (r *presenceLog) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *presenceLog) since(i int) []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.got[i:]...)
}

// lastRaw returns the last raw presence from the full JID from.
func (r *presenceLog) lastRaw(from string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.got) - 1; i >= 0; i-- {
		if r.got[i].From == from {
			return r.raw[i]
		}
	}
	return nil
}

// wait polls for a presence matching match and returns the first.
func (r *presenceLog) wait(t *testing.T, what string, match func(seen) bool) seen {
	t.Helper()
	var found seen
	eventually(t, what, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range r.got {
			if match(p) {
				found = p
				return true
			}
		}
		return false
	})
	return found
}

// stateLog counts OnState calls.
type stateLog struct {
	mu      sync.Mutex
	up      int
	lastErr error
}

func (l *stateLog) add(connected bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if connected {
		l.up++
	}
	l.lastErr = err
}

func (l *stateLog) ups() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up
}
