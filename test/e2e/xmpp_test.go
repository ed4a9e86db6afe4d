package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/internal/xmpp/ejabberdtest"
	"github.com/presenced/presenced/internal/xmpp/prosodytest"
	"github.com/presenced/presenced/internal/xmpp/xmpptestclient"
)

// xmppComponentConfig is presenced on a Prosody component.
func xmppComponentConfig(addr, secret string) string {
	return fmt.Sprintf(`presence:
  coalesce_interval: 0s
backend:
  kind: xmpp
  xmpp:
    mode: component
    keepalive: 2s
    clusters:
      - name: main
        domains: [example.com]
        server: %q
        tls: none
        component: presence.example.com
        secret: %q
`, addr, secret)
}

// TestXMPPComponentProsody runs presenced as a privileged component of a
// real Prosody: a user online before presenced connected is reported from
// the presences Prosody sends on connect, a user never online is Offline,
// several resources of one user merge by priority, every change reaches
// the app's WebSocket, a Prosody restart is Unknown/backend_error and then
// the truth again, and a wrong component secret is reported by /readyz and
// the log. PUT /v1/me/presence is 501.
func TestXMPPComponentProsody(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Privileged: true})
	srv.RegisterUser(t, "bob", "bob-pw") // with prosodyctl, the server's own admin tool
	srv.RegisterUser(t, "carol", "carol-pw")
	ctx := context.Background()
	tlsCfg := &tls.Config{RootCAs: srv.CAPool(), ServerName: "example.com"}
	login := func(resource string) *xmpptestclient.Client {
		t.Helper()
		c, err := xmpptestclient.Dial(ctx, srv.C2SAddr(), "bob@example.com/"+resource, "bob-pw", tlsCfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	desk := login("desk")
	if err := desk.SendPresence("dnd", "in a meeting", 10); err != nil {
		t.Fatal(err)
	}

	in := newInstance(t, xmppComponentConfig(srv.ComponentAddr(), srv.Secret()))
	alice := in.token("alice@example.com")
	in.start()
	var sub subscriptionJSON
	if code := in.call("POST", in.client+"/v1/subscriptions", alice, map[string]any{"users": []string{"bob@example.com", "carol@example.com"}}, &sub); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}
	get := func(user string) presenceJSON {
		p, _ := find(in.changes(alice, sub.ID, 0).Presence, user)
		return p
	}
	eventually(t, "bob's presence from before presenced connected", func() bool {
		p := get("bob@example.com")
		return p.Availability == "DoNotDisturb" && p.Note == "in a meeting"
	})
	eventually(t, "carol, never online, Offline", func() bool { return get("carol@example.com").Availability == "Offline" })

	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(in.client, "http")+"/v1/stream", http.Header{"Authorization": {"Bearer " + alice}})
	if err != nil {
		t.Fatalf("websocket dial: %v (%v)", err, resp)
	}
	defer ws.Close()
	admin := in.adminToken()
	eventually(t, "stream attached", func() bool {
		var st map[string]any
		in.call("GET", in.admin+"/v1/admin/stats", admin, nil, &st)
		return st["streams"] == float64(1)
	})
	next := func(what string) presenceJSON {
		t.Helper()
		ws.SetReadDeadline(time.Now().Add(15 * time.Second))
		for {
			var ev struct {
				Type     string       `json:"type"`
				Presence presenceJSON `json:"presence"`
			}
			if err := ws.ReadJSON(&ev); err != nil {
				t.Fatalf("websocket read (%s): %v", what, err)
			}
			if ev.Type == "presence" && ev.Presence.User == "bob@example.com" {
				return ev.Presence
			}
		}
	}
	// A phone with a lower priority does not hide the desk.
	phone := login("phone")
	if err := phone.SendPresence("away", "on the road", 5); err != nil {
		t.Fatal(err)
	}
	if err := desk.SendPresence("", "at my desk", 10); err != nil {
		t.Fatal(err)
	}
	for p := next("desk available"); p.Availability != "Available" || p.Note != "at my desk"; p = next("desk available") {
		t.Logf("skipped %+v", p)
	}
	// The desk leaves: the phone decides.
	if err := desk.Unavailable(); err != nil {
		t.Fatal(err)
	}
	for p := next("phone only"); p.Availability != "Away" || p.Note != "on the road"; p = next("phone only") {
		t.Logf("skipped %+v", p)
	}

	if code := in.call("PUT", in.client+"/v1/me/presence", alice, map[string]string{"availability": "Busy"}, nil); code != 501 {
		t.Errorf("PUT /v1/me/presence on xmpp: %d, want 501", code)
	}

	// A restart drops every session: Unknown while presenced reconnects,
	// then bob's state once his client is back.
	srv.Restart(t)
	eventually(t, "bob Unknown while the component reconnects", func() bool {
		p := get("bob@example.com")
		return p.Availability == "Unknown" && p.Reason == "backend_error"
	})
	eventually(t, "the component back", func() bool { return in.metric(`presenced_xmpp_cluster_up{cluster="main"}`) == 1 })
	phone2 := login("phone")
	if err := phone2.SendPresence("xa", "gone home", 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob's state after the restart", func() bool {
		p := get("bob@example.com")
		return p.Availability == "Away" && p.Note == "gone home"
	})
	if n := in.metric(`presenced_xmpp_presences_total{cluster="main"}`); n < 3 {
		t.Errorf("presenced_xmpp_presences_total = %v, want at least 3", n)
	}

	t.Run("wrong secret", func(t *testing.T) {
		bad := newInstance(t, xmppComponentConfig(srv.ComponentAddr(), "not-the-secret"))
		bad.notReady = true
		bad.start()
		var body struct{ Status, Reason string }
		eventually(t, "/readyz names the refused handshake", func() bool {
			resp, err := bad.http.Get(bad.admin + "/readyz")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			_ = json.NewDecoder(resp.Body).Decode(&body)
			return resp.StatusCode == 503 && strings.Contains(body.Reason, "not-authorized")
		})
		if !strings.Contains(body.Reason, "cluster main") {
			t.Errorf("/readyz reason %q does not name the cluster", body.Reason)
		}
		if logs := bad.logs.String(); !strings.Contains(logs, "not-authorized") || strings.Contains(logs, "not-the-secret") {
			t.Errorf("the log should name not-authorized and never the secret:\n%s", logs)
		}
	})
}

// TestXMPPComponentEjabberd runs presenced as a privileged component of a
// real ejabberd, which sends no presence of users already online when a
// component connects and ignores probes: such a user is Unknown/pending
// (not a made-up Offline) until either they change presence or the
// administrator puts probe@<component> on their roster (ejabberdctl
// add_rosteritem), after which ejabberd pushes their current presence at
// once; an ejabberd restart is recovered.
func TestXMPPComponentEjabberd(t *testing.T) {
	srv := ejabberdtest.Start(t, ejabberdtest.Options{Privileged: true})
	srv.AddUser(t, "bob", "bob-pw") // with ejabberdctl register
	srv.AddUser(t, "carol", "carol-pw")
	ctx := context.Background()
	tlsCfg := &tls.Config{RootCAs: srv.CertPool(), ServerName: "example.com"}
	login := func(user string) *xmpptestclient.Client {
		t.Helper()
		c, err := xmpptestclient.Dial(ctx, srv.C2SAddr(), user+"@example.com/desk", user+"-pw", tlsCfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	bob, carol := login("bob"), login("carol")
	if err := bob.SendPresence("away", "before", 1); err != nil {
		t.Fatal(err)
	}
	if err := carol.SendPresence("dnd", "provisioned", 1); err != nil {
		t.Fatal(err)
	}

	cfg := xmppComponentConfig(srv.ComponentAddr(), srv.Secret()) + "        no_initial_presence: true\n"
	in := newInstance(t, cfg)
	alice := in.token("alice@example.com")
	in.start()
	var sub subscriptionJSON
	if code := in.call("POST", in.client+"/v1/subscriptions", alice, map[string]any{"users": []string{"bob@example.com", "carol@example.com"}}, &sub); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}
	get := func(user string) presenceJSON {
		p, _ := find(in.changes(alice, sub.ID, 0).Presence, user)
		return p
	}
	eventually(t, "bob pending: ejabberd did not say", func() bool {
		p := get("bob@example.com")
		return p.Availability == "Unknown" && p.Reason == "pending"
	})
	time.Sleep(3 * time.Second) // past the settle time: still not Offline
	if p := get("bob@example.com"); p.Availability != "Unknown" || p.Reason != "pending" {
		t.Errorf("bob after the settle time: %+v, want Unknown/pending", p)
	}
	if err := bob.SendPresence("", "after", 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob's change", func() bool {
		p := get("bob@example.com")
		return p.Availability == "Available" && p.Note == "after"
	})
	srv.Ctl(t, "add_rosteritem", "carol", "example.com", "probe", "presence.example.com", "presenced", "presenced", "both")
	eventually(t, "carol's presence pushed after provisioning", func() bool {
		p := get("carol@example.com")
		return p.Availability == "DoNotDisturb" && p.Note == "provisioned"
	})

	// A restart ends every session: carol's old state is dropped (Unknown
	// while presenced reconnects, then whatever ejabberd answers the
	// probe), and her next presence is seen.
	srv.Restart(t)
	eventually(t, "carol's old state dropped", func() bool {
		return get("carol@example.com").Availability != "DoNotDisturb"
	})
	carol2 := login("carol")
	if err := carol2.SendPresence("away", "after the restart", 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "carol after the restart", func() bool {
		p := get("carol@example.com")
		return p.Availability == "Away" && p.Note == "after the restart"
	})
}

// TestXMPPAccounts runs presenced on endpoint accounts of a real Prosody,
// over its direct-TLS client port (STARTTLS is covered by
// internal/xmpp/account and the conformance suite):
// 2 accounts of at most 2 subscriptions, 3 contacts. The accounts' rosters
// show fill-first placement (ep1 holds two contacts, ep2 the third), the
// contacts' clients approve and their presence reaches the app, and a
// released contact leaves the roster.
func TestXMPPAccounts(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	for user, pw := range map[string]string{"ep1": "ep-pw", "ep2": "ep-pw", "u1": "u-pw", "u2": "u-pw", "u3": "u-pw"} {
		srv.RegisterUser(t, user, pw)
	}
	ctx := context.Background()
	tlsCfg := &tls.Config{RootCAs: srv.CAPool(), ServerName: "example.com"}
	contacts := map[string]*xmpptestclient.Client{}
	for _, u := range []string{"u1", "u2", "u3"} {
		c, err := xmpptestclient.Dial(ctx, srv.C2SAddr(), u+"@example.com/desk", "u-pw", tlsCfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.SendPresence("dnd", u+" busy", 1); err != nil {
			t.Fatal(err)
		}
		contacts[u] = c
	}
	trust := t.TempDir() + "/ca.pem"
	copyFile(t, srv.CertFile(), trust)
	in := newInstance(t, fmt.Sprintf(`presence:
  coalesce_interval: 0s
  watch_linger: 0s
backend:
  kind: xmpp
  max_subscriptions_per_endpoint: 2
  xmpp:
    mode: accounts
    clusters:
      - name: main
        domains: [example.com]
        server: %q
        tls: direct
        server_name: example.com
        trust_store: %q
        accounts: [ep1@example.com, ep2@example.com]
        password: ep-pw
`, srv.DirectTLSAddr(), trust))
	alice := in.token("alice@example.com")
	in.start()
	var sub subscriptionJSON
	if code := in.call("POST", in.client+"/v1/subscriptions", alice, map[string]any{"users": []string{"u1@example.com", "u2@example.com", "u3@example.com"}}, &sub); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}
	for _, u := range []string{"u1", "u2", "u3"} {
		eventually(t, u+"'s presence through an account", func() bool {
			p, _ := find(in.changes(alice, sub.ID, 0).Presence, u+"@example.com")
			return p.Availability == "DoNotDisturb" && p.Note == u+" busy"
		})
	}
	roster := func(account string) []string {
		t.Helper()
		c, err := xmpptestclient.Dial(ctx, srv.C2SAddr(), account+"@example.com/check", "ep-pw", tlsCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		items, err := c.Roster(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var jids []string
		for _, it := range items {
			jids = append(jids, it.JID)
		}
		slices.Sort(jids)
		return jids
	}
	// The reconciler places contacts in request order, filling ep1 first.
	if got := append(roster("ep1"), roster("ep2")...); len(got) != 3 {
		t.Errorf("rosters hold %v, want the 3 contacts once", got)
	}
	if n := len(roster("ep1")); n != 2 {
		t.Errorf("ep1 holds %d contacts, want 2 (filled first)", n)
	}

	// Release all but u2: the released ones leave the rosters.
	if code := in.call("PATCH", in.client+"/v1/subscriptions/"+sub.ID, alice, map[string]any{"remove": []string{"u1@example.com", "u3@example.com"}}, nil); code != 200 {
		t.Fatalf("patch subscription: %d", code)
	}
	eventually(t, "released contacts leave the rosters", func() bool {
		return slices.Equal(append(roster("ep1"), roster("ep2")...), []string{"u2@example.com"})
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestXMPPClusters: two Prosody servers, each serving its own email domain
// through its own component; each contact's presence comes from its
// cluster, and /readyz names a cluster that is down.
func TestXMPPClusters(t *testing.T) {
	east := prosodytest.Start(t, prosodytest.Options{Privileged: true, Domain: "east.example", Component: "presence.east.example"})
	west := prosodytest.Start(t, prosodytest.Options{Privileged: true, Domain: "west.example", Component: "presence.west.example"})
	east.RegisterUser(t, "ann", "pw")
	west.RegisterUser(t, "ben", "pw")
	ctx := context.Background()
	for _, u := range []struct {
		srv  *prosodytest.Server
		jid  string
		show string
	}{{east, "ann@east.example/desk", "dnd"}, {west, "ben@west.example/desk", "away"}} {
		c, err := xmpptestclient.Dial(ctx, u.srv.C2SAddr(), u.jid, "pw", &tls.Config{RootCAs: u.srv.CAPool(), ServerName: u.srv.Domain()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.SendPresence(u.show, "from "+u.srv.Domain(), 1); err != nil {
			t.Fatal(err)
		}
	}
	in := newInstance(t, fmt.Sprintf(`presence:
  coalesce_interval: 0s
backend:
  kind: xmpp
  xmpp:
    mode: component
    clusters:
      - {name: east, domains: [east.example], server: %q, tls: none, component: presence.east.example, secret: %q}
      - {name: west, domains: [west.example], server: %q, tls: none, component: presence.west.example, secret: %q}
`, east.ComponentAddr(), east.Secret(), west.ComponentAddr(), west.Secret()))
	alice := in.token("alice@east.example")
	in.start()
	var sub subscriptionJSON
	if code := in.call("POST", in.client+"/v1/subscriptions", alice, map[string]any{"users": []string{"ann@east.example", "ben@west.example"}}, &sub); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}
	for user, want := range map[string]string{"ann@east.example": "DoNotDisturb", "ben@west.example": "Away"} {
		eventually(t, user+" from its own cluster", func() bool {
			p, _ := find(in.changes(alice, sub.ID, 0).Presence, user)
			return p.Availability == want && p.Note == "from "+user[strings.Index(user, "@")+1:]
		})
	}
	west.Stop()
	eventually(t, "/readyz names the cluster that is down", func() bool {
		resp, err := in.http.Get(in.admin + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct{ Reason string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode == 503 && strings.Contains(body.Reason, "cluster west") && !strings.Contains(body.Reason, "cluster east")
	})
	eventually(t, "ben Unknown, ann still known", func() bool {
		ch := in.changes(alice, sub.ID, 0).Presence
		ben, _ := find(ch, "ben@west.example")
		ann, _ := find(ch, "ann@east.example")
		return ben.Availability == "Unknown" && ben.Reason == "backend_error" && ann.Availability == "DoNotDisturb"
	})
}
