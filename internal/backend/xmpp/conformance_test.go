package xmpp_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/backend/backendtest"
	"github.com/presenced/presenced/internal/backend/xmpp"
	"github.com/presenced/presenced/internal/status"
	"github.com/presenced/presenced/internal/xmpp/account"
	"github.com/presenced/presenced/internal/xmpp/component"
	"github.com/presenced/presenced/internal/xmpp/ejabberdtest"
	"github.com/presenced/presenced/internal/xmpp/prosodytest"
	"github.com/presenced/presenced/internal/xmpp/xmpptestclient"
)

const contactPassword = "contact-pw"

// contacts are the suite's test users, each logged in once (on first use)
// and kept for the package: SetPresence sends a presence from it.
type contacts struct {
	addr string
	tls  *tls.Config
	mu   sync.Mutex
	c    map[string]*xmpptestclient.Client
}

func (cs *contacts) set(ctx context.Context, contact string, p status.Presence) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.c[contact]
	if c == nil {
		var err error
		if c, err = xmpptestclient.Dial(ctx, cs.addr, contact+"/desk", contactPassword, cs.tls); err != nil {
			return err
		}
		cs.c[contact] = c
	}
	show := map[status.Availability]string{status.Available: "", status.Busy: "dnd", status.DoNotDisturb: "dnd", status.Away: "away"}[p.Availability]
	return c.SendPresence(show, p.Note, 1)
}

func (cs *contacts) close() {
	for _, c := range cs.c {
		c.Close()
	}
}

// represent is what XMPP can carry of what the suite sets: no Busy (dnd is
// the nearest show) and no activity.
func represent(p status.Presence) status.Presence {
	if p.Availability == status.Busy {
		p.Availability = status.DoNotDisturb
	}
	p.Activity = ""
	return p
}

func contact(i int) string { return fmt.Sprintf("c%d@example.com", i) }

func users() map[string]string {
	u := map[string]string{"ep1": "ep-pw", "ep2": "ep-pw"}
	for i := range backendtest.Contacts {
		u[fmt.Sprintf("c%d", i)] = contactPassword
	}
	return u
}

func newContacts(t *testing.T, addr string, pool *x509.CertPool) *contacts {
	cs := &contacts{addr: addr, tls: &tls.Config{RootCAs: pool, ServerName: "example.com"}, c: map[string]*xmpptestclient.Client{}}
	t.Cleanup(cs.close)
	return cs
}

func componentHarness(t *testing.T, addr, secret string, initial bool, cs *contacts) backendtest.Harness {
	b, err := xmpp.New(xmpp.Config{Clusters: []xmpp.ClusterConfig{{
		Cluster: xmpp.Cluster{Name: "main", Domains: []string{"example.com"}},
		Link: xmpp.NewComponentLink(component.Config{
			Addr: addr, JID: "presence.example.com", Secret: secret, Domain: "example.com", KeepAlive: -1,
		}),
		InitialPresence: initial, SettleTime: 300 * time.Millisecond,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return backendtest.Harness{
		Backend:     b,
		Endpoints:   []backend.Endpoint{{Index: 0, ID: "presence.example.com"}, {Index: 1, ID: "presence.example.com#2"}},
		SetPresence: cs.set, Contact: contact, Represent: represent, Timeout: 15 * time.Second,
	}
}

// TestConformanceProsodyComponent runs the backend contract's suite on a
// real Prosody, presenced as a privileged component.
func TestConformanceProsodyComponent(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Privileged: true, Users: users()})
	cs := newContacts(t, srv.C2SAddr(), srv.CAPool())
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		return componentHarness(t, srv.ComponentAddr(), srv.Secret(), true, cs)
	})
}

// TestConformanceEjabberdComponent runs the suite on a real ejabberd,
// presenced as a privileged component, with probe@presence.example.com
// provisioned on the contacts' rosters (docs/xmpp.md): ejabberd sends no
// presence of online users to a component that connects, and answers
// probes only from a JID on the user's roster.
func TestConformanceEjabberdComponent(t *testing.T) {
	srv := ejabberdtest.Start(t, ejabberdtest.Options{Privileged: true})
	srv.AddUsers(t, users())
	for i := range backendtest.Contacts {
		srv.Ctl(t, "add_rosteritem", fmt.Sprintf("c%d", i), "example.com", "probe", "presence.example.com", "presenced", "presenced", "both")
	}
	cs := newContacts(t, srv.C2SAddr(), srv.CertPool())
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		return componentHarness(t, srv.ComponentAddr(), srv.Secret(), false, cs)
	})
}

// TestConformanceProsodyAccounts runs the suite on a real Prosody with
// endpoint accounts: watches are roster subscriptions the contacts'
// clients approve.
func TestConformanceProsodyAccounts(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users()})
	cs := newContacts(t, srv.C2SAddr(), srv.CAPool())
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		var accounts []account.Config
		for _, a := range []string{"ep1@example.com", "ep2@example.com"} {
			accounts = append(accounts, account.Config{
				Addr: srv.C2SAddr(), JID: a, Password: "ep-pw", KeepAlive: -1,
				TLS: &tls.Config{RootCAs: srv.CAPool(), ServerName: "example.com"},
			})
		}
		b, err := xmpp.New(xmpp.Config{Clusters: []xmpp.ClusterConfig{{
			Cluster: xmpp.Cluster{Name: "main", Domains: []string{"example.com"}},
			Link:    xmpp.NewAccountsLink(accounts),
		}}})
		if err != nil {
			t.Fatal(err)
		}
		return backendtest.Harness{
			Backend:     b,
			Endpoints:   []backend.Endpoint{{Index: 0, ID: "ep1@example.com"}, {Index: 1, ID: "ep2@example.com"}},
			SetPresence: cs.set, Contact: contact, Represent: represent, Timeout: 15 * time.Second,
		}
	})
}

type mapSink struct {
	mu sync.Mutex
	m  map[string]status.Presence
}

func (s *mapSink) Update(c string, p status.Presence) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[c] = p
}

func (s *mapSink) get(c string) status.Presence {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[c]
}

// TestResolvedJID: with a resolver (the directory), a contact is watched
// at the JID it gives, and one it cannot place is Unknown with its reason.
func TestResolvedJID(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Privileged: true, Users: users()})
	cs := newContacts(t, srv.C2SAddr(), srv.CAPool())
	ctx := context.Background()
	if err := cs.set(ctx, "c0@example.com", status.Presence{Availability: status.Away, Note: "resolved"}); err != nil {
		t.Fatal(err)
	}
	b, err := xmpp.New(xmpp.Config{
		Clusters: []xmpp.ClusterConfig{{
			Cluster: xmpp.Cluster{Name: "main"},
			Link: xmpp.NewComponentLink(component.Config{
				Addr: srv.ComponentAddr(), JID: "presence.example.com", Secret: srv.Secret(), Domain: "example.com", KeepAlive: -1,
			}),
			InitialPresence: true, SettleTime: 100 * time.Millisecond,
		}},
		Resolve: func(_ context.Context, c string) (string, status.Reason, error) {
			if c == "chris@corp.example" {
				return "xmpp:C0@example.com", status.NoReason, nil
			}
			return "", status.NotFound, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sink := &mapSink{m: map[string]status.Presence{}}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(rctx, sink) }()
	defer func() {
		cancel()
		<-done
	}()
	ep := backend.Endpoint{ID: "presence.example.com#1"}
	deadline := time.Now().Add(15 * time.Second)
	for _, c := range []string{"chris@corp.example", "nobody@corp.example"} {
		for b.Watch(ctx, ep, c) != nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	for {
		chris, nobody := sink.get("chris@corp.example"), sink.get("nobody@corp.example")
		if chris.Availability == status.Away && chris.Note == "resolved" && nobody == status.UnknownBecause(status.NotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chris %+v, nobody %+v; want Away \"resolved\" and Unknown/not_found", chris, nobody)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := b.Unwatch(ctx, ep, "nobody@corp.example"); err != nil {
		t.Errorf("Unwatch of an unplaced contact: %v", err)
	}
}
