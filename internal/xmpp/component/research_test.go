package component

// Experiments on how a privileged component learns the presence of users
// who were online before it connected. They document server behaviour
// and are kept as regression tests of the facts: if a server upgrade
// changes an answer, the test says which.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/xmpp/ejabberdtest"
)

// experiment is one attempt to get alice's current presence: send, then
// a barrier (a ping to alice's full JID, which her client answers after
// the server has handled what came before it on the same route), and
// record what arrived in between.
type experiment struct {
	name string
	// send are the stanzas sent before the barrier; %C is replaced by
	// the component address, %D by the domain, %F by alice's full JID.
	send []string
}

var experiments = []experiment{
	{name: "on connect"}, // nothing sent: what the server volunteers
	{name: "probe from component domain", send: []string{
		"<presence type='probe' id='probe1' from='%C' to='alice@%D'/>"}},
	{name: "probe from a JID at the component", send: []string{
		"<presence type='probe' id='probe2' from='probe@%C' to='alice@%D'/>"}},
	{name: "probe to the full JID", send: []string{
		"<presence type='probe' id='probe3' from='%C' to='%F'/>"}},
}

// outcome is what an experiment observed.
type outcome struct {
	// Presence reports whether alice's current presence (her show)
	// arrived before the barrier's answer.
	Presence bool
}

// serverFacts are the expected outcomes on one server, by experiment
// name, plus server-specific checks.
type serverFacts struct {
	outcomes map[string]outcome
	// extra runs server-specific experiments with alice online as
	// alice@DOMAIN/desk, show "away", status "online before".
	extra func(t *testing.T, p peer, r *running)
}

// prosodyFacts: Prosody 0.12 with mod_privilege sends the presence of
// online users right after the advertisement (with a XEP-0203 delay
// stamped by the host) but ignores probes from the component, which is
// not subscribed to the users.
var prosodyFacts = serverFacts{
	outcomes: map[string]outcome{
		"on connect":                        {Presence: true},
		"probe from component domain":       {},
		"probe from a JID at the component": {},
		"probe to the full JID":             {},
	},
	extra: privilegedIQ,
}

// ejabberdFacts: ejabberd 23.01 volunteers nothing and ignores probes;
// its admin commands report the current presence.
func ejabberdFacts(srv *ejabberdtest.Server) serverFacts {
	return serverFacts{
		outcomes: map[string]outcome{
			"on connect":                        {},
			"probe from component domain":       {},
			"probe from a JID at the component": {},
			"probe to the full JID":             {},
		},
		extra: func(t *testing.T, p peer, r *running) {
			privilegedIQ(t, p, r)
			ejabberdCtl(t, srv)
			rosterProvisioned(t, p, r, srv)
		},
	}
}

// research logs alice in with a presence, then connects the component and
// runs every experiment, comparing the outcomes with facts.
func research(t *testing.T, p peer, facts serverFacts) {
	t.Run("research", func(t *testing.T) {
		p.AddUser(t, "alice", "alice-pw")
		alice := login(t, p, "alice", "alice-pw", "desk")
		if err := alice.SendPresence("away", "online before", 3); err != nil {
			t.Fatal(err)
		}
		// The echo shows the server has processed the presence before the
		// component connects.
		echoed(t, alice, "online before")
		r := start(t, p, Config{})
		r.privileged(t)
		got := map[string]outcome{}
		for i, e := range experiments {
			got[e.name] = run(t, p, r, e, i)
		}
		if diff := cmp.Diff(facts.outcomes, got); diff != "" {
			t.Errorf("%s: outcomes of the experiments (-want +got):\n%s", p.name, diff)
		}
		if facts.extra != nil {
			facts.extra(t, p, r)
		}
	})
}

// run performs one experiment and logs the stanzas sent and received.
func run(t *testing.T, p peer, r *running, e experiment, n int) outcome {
	t.Helper()
	full := "alice@" + p.Domain() + "/desk"
	expand := strings.NewReplacer("%C", p.Component(), "%D", p.Domain(), "%F", full)
	ctx := context.Background()
	for _, s := range e.send {
		s = expand.Replace(s)
		t.Logf("%s: %s: sent %s", p.name, e.name, s)
		if err := r.Send(ctx, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	id := "barrier" + string(rune('a'+n))
	barrier := "<iq type='get' id='" + id + "' from='" + p.Component() + "' to='" + full + "'><ping xmlns='urn:xmpp:ping'/></iq>"
	if err := r.Send(ctx, []byte(barrier)); err != nil {
		t.Fatal(err)
	}
	var out outcome
	timeout := time.After(eventually)
	for {
		select {
		case raw := <-r.elements:
			s := parse(t, raw)
			if s.Name == "iq" && s.ID == id {
				t.Logf("%s: %s: barrier answered: %s", p.name, e.name, raw)
				return out
			}
			if s.Name == "presence" {
				t.Logf("%s: %s: received %s", p.name, e.name, raw)
			}
			if s.Name == "presence" && s.From == full && s.Show == "away" {
				out.Presence = true
			}
		case <-timeout:
			t.Fatalf("%s: %s: barrier %s not answered within %v", p.name, e.name, id, eventually)
		}
	}
}

// privilegedIQ sends a XEP-0356 v2 <privileged_iq/> asking for alice's
// roster on her behalf and logs the answer (no IQ returns presence; this
// shows whether the v2 mechanism exists at all).
func privilegedIQ(t *testing.T, p peer, r *running) {
	t.Run("privileged_iq", func(t *testing.T) {
		id := "piq" + randomID()
		s := "<iq type='get' id='" + id + "' from='" + p.Component() + "' to='alice@" + p.Domain() + "'>" +
			"<privileged_iq xmlns='" + nsPriv2 + "'><iq xmlns='jabber:client' type='get' id='inner' from='alice@" +
			p.Domain() + "' to='alice@" + p.Domain() + "'><query xmlns='jabber:iq:roster'/></iq></privileged_iq></iq>"
		t.Logf("%s: sent %s", p.name, s)
		if err := r.Send(context.Background(), []byte(s)); err != nil {
			t.Fatal(err)
		}
		timeout := time.After(eventually)
		for {
			select {
			case raw := <-r.elements:
				if s := parse(t, raw); s.Name == "iq" && s.ID == id {
					t.Logf("%s: privileged_iq answered: %s", p.name, raw)
					return
				}
			case <-timeout:
				t.Fatalf("privileged_iq not answered within %v", eventually)
			}
		}
	})
}

// ejabberdCtl checks the admin commands that report a user's current
// presence (mod_admin_extra; production could reach the same commands
// over mod_http_api).
func ejabberdCtl(t *testing.T, srv *ejabberdtest.Server) {
	t.Run("ejabberdctl", func(t *testing.T) {
		for _, args := range [][]string{
			{"get_presence", "alice", srv.Domain()},
			{"user_sessions_info", "alice", srv.Domain()},
			{"connected_users_info"},
		} {
			out := srv.Ctl(t, args...)
			t.Logf("ejabberdctl %s:\n%s", strings.Join(args, " "), out)
			if !strings.Contains(out, "away") || !strings.Contains(out, "online before") {
				t.Errorf("ejabberdctl %s does not report alice's show and status", strings.Join(args, " "))
			}
		}
		const want = "alice@example.com/desk\taway\tonline before"
		if got := srv.Ctl(t, "get_presence", "alice", srv.Domain()); got != want {
			t.Errorf("get_presence = %q, want %q", got, want)
		}
	})
}

// rosterProvisioned puts probe@COMPONENT on alice's roster with
// subscription both by an admin command (the component itself may not
// write rosters on ejabberd), then probes from that JID. Both steps give
// the component alice's current presence: the roster change makes her
// session send it to the new contact, and the probe is answered (with a
// XEP-0203 delay) because the prober is now subscribed.
func rosterProvisioned(t *testing.T, p peer, r *running, srv *ejabberdtest.Server) {
	t.Run("probe after admin roster item", func(t *testing.T) {
		args := []string{"add_rosteritem", "alice", srv.Domain(), "probe", p.Component(), "presenced", "presenced", "both"}
		out := srv.Ctl(t, args...)
		t.Logf("ejabberdctl %s: %q", strings.Join(args, " "), out)
		got := []outcome{
			run(t, p, r, experiment{name: "after add_rosteritem"}, 10),
			run(t, p, r, experiment{name: "probe from a JID on alice's roster", send: []string{
				"<presence type='probe' id='probe4' from='probe@%C' to='alice@%D'/>"}}, 11),
		}
		if diff := cmp.Diff([]outcome{{Presence: true}, {Presence: true}}, got); diff != "" {
			t.Errorf("presence after add_rosteritem, after the probe (-want +got):\n%s", diff)
		}
	})
}
