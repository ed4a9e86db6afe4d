package presence

import (
	"errors"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/presence/presencetest"
	"github.com/presenced/presenced/internal/store"
)

// listed returns user's subscriptions without refreshing them.
func (e *env) listed(user string) map[string]View {
	out := map[string]View{}
	for _, v := range e.hub.List(user) {
		out[v.ID] = v
	}
	return out
}

func TestExpiryAfterTTLSinceLastCall(t *testing.T) {
	const ttl = 180 * time.Second
	tests := []struct {
		name string
		call func(e *env, v View) error // made 100s after subscribing; nil: none
		want time.Time                  // expected expiry
	}{
		{name: "untouched", want: t0.Add(ttl)},
		{name: "Get", call: func(e *env, v View) error { _, err := e.hub.Get("alice", v.ID); return err }, want: t0.Add(100*time.Second + ttl)},
		{name: "IDForKey does not refresh", call: func(e *env, v View) error { _, err := e.hub.IDForKey("alice", v.Key); return err }, want: t0.Add(ttl)},
		{name: "ChangesSince", call: func(e *env, v View) error { _, err := e.hub.ChangesSince("alice", v.ID, v.Sequence); return err }, want: t0.Add(100*time.Second + ttl)},
		{name: "Patch", call: func(e *env, v View) error {
			_, err := e.hub.Patch(bg, "alice", v.ID, []string{"b@x.com"}, nil)
			return err
		}, want: t0.Add(100*time.Second + ttl)},
		{name: "Refresh", call: func(e *env, v View) error { _, err := e.hub.Refresh("alice", v.ID); return err }, want: t0.Add(100*time.Second + ttl)},
		{name: "Subscribe replace", call: func(e *env, v View) error {
			_, _, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Key: v.Key, Contacts: []string{"c@x.com"}})
			return err
		}, want: t0.Add(100*time.Second + ttl)},
		{name: "List does not refresh", call: func(e *env, v View) error { e.hub.List("alice"); return nil }, want: t0.Add(ttl)},
		{name: "Stats does not refresh", call: func(e *env, v View) error { e.hub.Stats(); return nil }, want: t0.Add(ttl)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			v := e.subscribe("alice", "k", "a@x.com")
			if !v.ExpiresAt.Equal(t0.Add(ttl)) {
				t.Fatalf("ExpiresAt = %v, want %v", v.ExpiresAt, t0.Add(ttl))
			}
			e.clk.Advance(100 * time.Second)
			if tt.call != nil {
				if err := tt.call(e, v); err != nil {
					t.Fatalf("call: %v", err)
				}
			}
			if got := e.listed("alice")[v.ID].ExpiresAt; !got.Equal(tt.want) {
				t.Fatalf("ExpiresAt after call = %v, want %v", got, tt.want)
			}

			e.clk.Advance(tt.want.Add(-time.Second).Sub(e.clk.Now()))
			e.hub.Sweep(bg)
			if _, ok := e.listed("alice")[v.ID]; !ok {
				t.Fatalf("expired a second before its expiry")
			}
			e.clk.Advance(time.Second)
			e.hub.Sweep(bg)
			if got := e.listed("alice"); len(got) != 0 {
				t.Fatalf("after expiry List = %v, want none", got)
			}
			if _, err := e.hub.Get("alice", v.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get after expiry: err = %v, want ErrNotFound", err)
			}
			if _, ok := e.store.Get(v.ID); ok {
				t.Errorf("expired subscription still in the store")
			}
			if n := e.store.Calls(presencetest.OpDelete); n != 1 {
				t.Errorf("store Delete calls = %d, want 1", n)
			}
		})
	}
}

func TestExpiryReleasesWatchesAndCounts(t *testing.T) {
	e := newEnv(t)
	a := e.subscribe("alice", "", "a@x.com", "b@x.com")
	e.subscribe("bob", "", "b@x.com")
	e.clk.Advance(90 * time.Second)
	if _, err := e.hub.Refresh("bob", e.hub.List("bob")[0].ID); err != nil {
		t.Fatal(err)
	}
	e.watches.Take()
	e.clk.Advance(90 * time.Second)
	e.hub.Sweep(bg)

	diff(t, "SetWanted calls", wantCalls("a@x.com", false), e.watches.Take())
	diff(t, "Stats", Stats{ClientSubscriptions: 1, WatchedContacts: 1, Contacts: 1, Users: 1}, e.hub.Stats())
	if got := e.counter("presenced_subscriptions_expired_total"); got != 1 {
		t.Errorf("expired counter = %v, want 1", got)
	}
	if _, err := e.hub.Get("alice", a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get: err = %v, want ErrNotFound", err)
	}
	checkInvariants(t, e.hub)
}

func TestExpiryStoreDeleteFailure(t *testing.T) {
	e := newEnv(t)
	v := e.subscribe("alice", "", "a@x.com")
	e.store.Fail(presencetest.OpDelete, presencetest.ErrInjected)
	e.clk.Advance(180 * time.Second)
	e.hub.Sweep(bg)
	if _, err := e.hub.Get("alice", v.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get: err = %v, want ErrNotFound (expiry must not depend on the store)", err)
	}
	// The record stays behind; Load drops it at the next start because
	// its expiry has passed.
	if _, ok := e.store.Get(v.ID); !ok {
		t.Errorf("record vanished although Delete failed")
	}
}

func TestListenerKeepsSubscriptionsAlive(t *testing.T) {
	e := newEnv(t)
	a := e.subscribe("alice", "", "a@x.com")
	b := e.subscribe("bob", "", "a@x.com")

	e.clk.Advance(170 * time.Second)
	l := e.hub.Listen("alice", 8)
	if got, want := e.listed("alice")[a.ID].ExpiresAt, t0.Add(350*time.Second); !got.Equal(want) {
		t.Errorf("Listen did not refresh: ExpiresAt = %v, want %v", got, want)
	}
	for range 120 { // an hour, swept every 30s
		e.clk.Advance(30 * time.Second)
		e.hub.Sweep(bg)
		if _, ok := e.listed("alice")[a.ID]; !ok {
			t.Fatalf("alice's subscription expired at %v while she listens", e.clk.Now())
		}
	}
	if _, ok := e.listed("bob")[b.ID]; ok {
		t.Errorf("bob's subscription outlived its TTL: alice's listener must not keep it")
	}
	if got := drain(l); len(got) != 0 {
		t.Errorf("listener got %v, want nothing", got)
	}

	l.Close()
	e.clk.Advance(90 * time.Second) // the last refresh left more than half the TTL
	e.hub.Sweep(bg)
	if _, ok := e.listed("alice")[a.ID]; !ok {
		t.Fatalf("expired less than half a TTL after the listener closed")
	}
	e.clk.Advance(90 * time.Second)
	e.hub.Sweep(bg)
	if _, ok := e.listed("alice")[a.ID]; ok {
		t.Fatalf("still alive a TTL after the listener closed")
	}
	diff(t, "Stats", Stats{}, e.hub.Stats())
}

func TestSweepForgetsIdleUsers(t *testing.T) {
	e := newEnv(t)
	l := e.hub.Listen("carol", 4) // a stream that never subscribes
	if got := e.hub.Stats().Users; got != 1 {
		t.Fatalf("Users = %d, want 1", got)
	}
	e.hub.Sweep(bg)
	if got := e.hub.Stats().Users; got != 1 {
		t.Fatalf("Users = %d after Sweep with a listener, want 1", got)
	}
	l.Close()
	e.hub.Sweep(bg)
	diff(t, "Stats", Stats{}, e.hub.Stats())
}

func TestSetTTLAffectsNextRefresh(t *testing.T) {
	e := newEnv(t)
	v := e.subscribe("alice", "", "a@x.com")
	if err := e.hub.SetTTL(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	got := e.listed("alice")[v.ID]
	if !got.ExpiresAt.Equal(t0.Add(180*time.Second)) || got.TTL != 60*time.Second {
		t.Fatalf("after SetTTL: ExpiresAt %v TTL %v, want unchanged expiry %v and TTL 60s", got.ExpiresAt, got.TTL, t0.Add(180*time.Second))
	}
	e.clk.Advance(10 * time.Second)
	exp, err := e.hub.Refresh("alice", v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(70 * time.Second); !exp.Equal(want) {
		t.Fatalf("Refresh = %v, want %v", exp, want)
	}
	e.clk.Advance(60 * time.Second)
	e.hub.Sweep(bg)
	if len(e.listed("alice")) != 0 {
		t.Fatalf("not expired 60s after the refresh")
	}
}

func TestRequestTTL(t *testing.T) {
	tests := []struct {
		name       string
		defaultTTL time.Duration
		req        time.Duration
		want       time.Duration
	}{
		{"default", 180 * time.Second, 0, 180 * time.Second},
		{"shorter", 180 * time.Second, 30 * time.Second, 30 * time.Second},
		{"minimum", 180 * time.Second, MinTTL, MinTTL},
		{"capped by default", 180 * time.Second, 600 * time.Second, 180 * time.Second},
		{"maximum capped", 180 * time.Second, MaxTTL, 180 * time.Second},
		{"equal to default", 300 * time.Second, 300 * time.Second, 300 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.SubscriptionTTL = tt.defaultTTL })
			v, _, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Contacts: []string{"a@x.com"}, TTL: tt.req})
			if err != nil {
				t.Fatal(err)
			}
			if v.TTL != tt.want || !v.ExpiresAt.Equal(t0.Add(tt.want)) {
				t.Errorf("TTL %v ExpiresAt %v, want TTL %v ExpiresAt %v", v.TTL, v.ExpiresAt, tt.want, t0.Add(tt.want))
			}
			rec, _ := e.store.Get(v.ID)
			if rec.TTL != tt.req || !rec.ExpiresAt.Equal(t0.Add(tt.want)) {
				t.Errorf("stored TTL %v ExpiresAt %v, want requested TTL %v ExpiresAt %v", rec.TTL, rec.ExpiresAt, tt.req, t0.Add(tt.want))
			}
		})
	}

	t.Run("raising the default uncaps the request", func(t *testing.T) {
		e := newEnv(t)
		v, _, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Contacts: []string{"a@x.com"}, TTL: 600 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.hub.SetTTL(900 * time.Second); err != nil {
			t.Fatal(err)
		}
		exp, err := e.hub.Refresh("alice", v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(600 * time.Second); !exp.Equal(want) {
			t.Errorf("Refresh = %v, want %v (the request's own TTL)", exp, want)
		}
	})
}

func TestInvalidTTLRefused(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, time.Nanosecond, MinTTL - time.Nanosecond, MaxTTL + time.Nanosecond, 100 * 24 * time.Hour} {
		t.Run("Subscribe "+d.String(), func(t *testing.T) {
			e := newEnv(t)
			_, _, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Contacts: []string{"a@x.com"}, TTL: d})
			if !errors.Is(err, ErrInvalidTTL) {
				t.Errorf("err = %v, want ErrInvalidTTL", err)
			}
			if n := e.store.Calls(presencetest.OpPut); n != 0 {
				t.Errorf("store Put calls = %d, want 0", n)
			}
			diff(t, "Stats", Stats{}, e.hub.Stats())
			diff(t, "SetWanted calls", []presencetest.Want(nil), e.watches.Calls())
		})
		t.Run("SetTTL "+d.String(), func(t *testing.T) {
			e := newEnv(t)
			if err := e.hub.SetTTL(d); !errors.Is(err, ErrInvalidTTL) {
				t.Errorf("err = %v, want ErrInvalidTTL", err)
			}
			if got := e.hub.TTL(); got != 180*time.Second {
				t.Errorf("TTL = %v after refused SetTTL, want 180s", got)
			}
		})
	}
	for _, d := range []time.Duration{MinTTL, MaxTTL} {
		e := newEnv(t)
		if err := e.hub.SetTTL(d); err != nil {
			t.Errorf("SetTTL(%v): %v", d, err)
		}
		if got := e.hub.TTL(); got != d {
			t.Errorf("TTL = %v, want %v", got, d)
		}
	}
	t.Run("New", func(t *testing.T) {
		for _, d := range []time.Duration{0, MinTTL - 1} {
			cfg := testConfig()
			cfg.SubscriptionTTL = d
			if _, err := New(cfg, nil, &presencetest.Watches{}, presencetest.NewStore(), nil, discard(), nil); !errors.Is(err, ErrInvalidTTL) {
				t.Errorf("New with TTL %v: err = %v, want ErrInvalidTTL", d, err)
			}
		}
	})
}

func TestFlushPersistsRefreshes(t *testing.T) {
	e := newEnv(t)
	v := e.subscribe("alice", "", "a@x.com")
	if err := e.hub.Flush(bg); err != nil {
		t.Fatal(err)
	}
	if n := e.store.Calls(presencetest.OpTouch); n != 0 {
		t.Fatalf("Touch calls = %d with nothing refreshed, want 0", n)
	}

	e.clk.Advance(50 * time.Second)
	if _, err := e.hub.Refresh("alice", v.ID); err != nil {
		t.Fatal(err)
	}
	e.store.Fail(presencetest.OpTouch, presencetest.ErrInjected)
	if err := e.hub.Flush(bg); !errors.Is(err, presencetest.ErrInjected) {
		t.Fatalf("Flush: err = %v, want the store's error", err)
	}
	e.store.Fail(presencetest.OpTouch, nil)
	if err := e.hub.Flush(bg); err != nil { // the failed batch is retried
		t.Fatal(err)
	}
	rec, _ := e.store.Get(v.ID)
	want := store.Subscription{
		ID: v.ID, User: "alice", Key: v.ID, ExpiresAt: t0.Add(230 * time.Second),
		Sequence: v.Sequence, Contacts: []string{"a@x.com"},
	}
	diff(t, "stored record", want, rec)
	if err := e.hub.Flush(bg); err != nil {
		t.Fatal(err)
	}
	if n := e.store.Calls(presencetest.OpTouch); n != 2 {
		t.Errorf("Touch calls = %d, want 2 (failed, retried, then nothing to do)", n)
	}
}
