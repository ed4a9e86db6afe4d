package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/internal/pidf"
	"github.com/presenced/presenced/internal/sip/kamailiotest"
	"github.com/presenced/presenced/internal/sip/watcher"
	"github.com/presenced/presenced/internal/status"
)

// publishAs PUBLISHes p for entity through w, as the entity's own SIP
// client would, modifying the publication etag names (or a new one when
// etag is empty), and returns the publication's entity tag.
func publishAs(t *testing.T, w *watcher.Watcher, entity string, p status.Presence, etag string) string {
	t.Helper()
	body, err := pidf.Build(entity, p, "phone", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := w.Publish(context.Background(), entity, entity, body, etag, time.Minute)
	if err != nil {
		t.Fatalf("PUBLISH of %s: %v", entity, err)
	}
	return pub.ETag
}

// TestSIPBackend runs presenced on backend.kind sip against a real
// Kamailio: bob's SIP client PUBLISHes to Kamailio and an app watching
// bob through presenced sees each change over its WebSocket; alice's PUT
// /v1/me/presence is PUBLISHed to Kamailio and reaches a plain SIP
// watcher of alice.
func TestSIPBackend(t *testing.T) {
	k := kamailiotest.Start(t, kamailiotest.Options{})
	in := newInstance(t, sipYAML(k.Addr())+"    expires: 30s\n")
	alice := in.token("alice@example.com")
	in.start()

	// bob's own SIP client, and a SIP watcher of alice.
	notes := make(chan string, 16)
	sw, err := watcher.New(watcher.Config{Server: k.Addr(), Notify: func(_, _ string, body []byte) { notes <- string(body) }})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	ctx := context.Background()
	etag := ""
	publishBob := func(p status.Presence) { etag = publishAs(t, sw, "sip:bob@example.com", p, etag) }
	publishBob(status.Presence{Availability: status.Available, Note: "at my desk"})

	var sub subscriptionJSON
	if code := in.call("POST", in.client+"/v1/subscriptions", alice, map[string]any{"users": []string{"bob@example.com"}}, &sub); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}
	eventually(t, "bob's presence from Kamailio", func() bool {
		p, _ := find(in.changes(alice, sub.ID, 0).Presence, "bob@example.com")
		return p.Availability == "Available" && p.Note == "at my desk"
	})

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
	for _, want := range []status.Presence{
		{Availability: status.Busy, Activity: "InAMeeting", Note: "weekly"},
		{Availability: status.Away, Note: "lunch soon"},
	} {
		publishBob(want)
		ws.SetReadDeadline(time.Now().Add(15 * time.Second))
		var ev struct {
			Type     string       `json:"type"`
			Presence presenceJSON `json:"presence"`
		}
		if err := ws.ReadJSON(&ev); err != nil {
			t.Fatalf("websocket read: %v", err)
		}
		if ev.Type != "presence" || ev.Presence.User != "bob@example.com" || ev.Presence.Availability != want.Availability.String() || ev.Presence.Note != want.Note {
			t.Errorf("event %+v, want bob %s %q", ev, want.Availability, want.Note)
		}
	}

	// A query for contacts nobody watches is answered by one-shot fetches
	// (Expires: 0 SUBSCRIBEs): dave published, erin never did.
	publishAs(t, sw, "sip:dave@example.com", status.Presence{Availability: status.Busy, Note: "on a call"}, "")
	var q struct{ Presence []presenceJSON }
	if code := in.call("POST", in.client+"/v1/presence/query", alice, map[string]any{"users": []string{"dave@example.com", "erin@example.com"}}, &q); code != 200 {
		t.Fatalf("query: %d", code)
	}
	dave, _ := find(q.Presence, "dave@example.com")
	erin, _ := find(q.Presence, "erin@example.com")
	if dave.Availability != "Busy" || dave.Note != "on a call" || erin.Availability != "Offline" {
		t.Errorf("query answered dave %+v, erin %+v; want Busy \"on a call\" and Offline", dave, erin)
	}

	// alice publishes through presenced; a SIP watcher of alice sees it.
	if err := sw.Subscribe(ctx, "sip:watcher@example.com", "sip:alice@example.com"); err != nil {
		t.Fatal(err)
	}
	in.publish(alice, "DoNotDisturb", "focus time")
	deadline := time.After(15 * time.Second)
	for {
		select {
		case body := <-notes:
			doc, err := pidf.Parse([]byte(body))
			if err == nil && doc.Presence().Availability == status.DoNotDisturb && doc.Presence().Note == "focus time" {
				return
			}
		case <-deadline:
			t.Fatalf("alice's publication never reached Kamailio's watcher; presenced log:\n%s", in.logs.String())
		}
	}
}

// TestSIPEndpointPool: with 3 SIP endpoints of at most 2 subscriptions
// and 7 contacts watched by two apps, Kamailio holds 2+2+2 dialogs from
// the three identities, one per contact however many apps watch it, and
// the 7th contact is no_capacity until another is released.
func TestSIPEndpointPool(t *testing.T) {
	k := kamailiotest.Start(t, kamailiotest.Options{})
	ids := []string{"sip:presence_e2e@example.com", "sip:presence_e2e-01@example.com", "sip:presence_e2e-02@example.com"}
	in := newInstance(t, fmt.Sprintf("presence:\n  watch_linger: 0s\nbackend:\n  kind: sip\n  max_subscriptions_per_endpoint: 2\n  endpoints: [%q, %q, %q]\n  sip:\n    transport: tcp\n    server: %q\n", ids[0], ids[1], ids[2], k.Addr()))
	alice, bob, admin := in.token("alice@example.com"), in.token("bob@example.com"), in.adminToken()
	in.start()

	var contacts []string
	for i := 1; i <= 7; i++ {
		contacts = append(contacts, fmt.Sprintf("c%d@example.com", i))
	}
	subscribe := func(token string, users []string) string {
		t.Helper()
		var sub subscriptionJSON
		if code := in.call("POST", in.client+"/v1/subscriptions", token, map[string]any{"users": users, "key": "team"}, &sub); code != 201 && code != 200 {
			t.Fatalf("subscribe: %d", code)
		}
		return sub.ID
	}
	aliceSub := subscribe(alice, contacts)
	subscribe(bob, contacts)

	var eps struct{ Endpoints []endpointUsage }
	eventually(t, "endpoints filled 2+2+2", func() bool {
		in.call("GET", in.admin+"/v1/admin/endpoints", admin, nil, &eps)
		return cmp.Equal(eps.Endpoints, []endpointUsage{{ids[0], 2, 2}, {ids[1], 2, 2}, {ids[2], 2, 2}})
	})
	var waiting, placed []string
	eventually(t, "six contacts reported by Kamailio, one without capacity", func() bool {
		waiting, placed = nil, nil
		for _, p := range in.changes(alice, aliceSub, 0).Presence {
			switch {
			case p.Reason == "no_capacity":
				waiting = append(waiting, p.User)
			case p.Availability == "Offline":
				placed = append(placed, p.User)
			}
		}
		return len(waiting) == 1 && len(placed) == 6
	})

	// Both apps drop one placed contact: its dialog ends and the waiting
	// contact takes the freed place.
	released := placed[0]
	var rest []string
	for _, c := range contacts {
		if c != released {
			rest = append(rest, c)
		}
	}
	subscribe(alice, rest)
	subscribe(bob, rest)
	eventually(t, "the waiting contact placed", func() bool {
		p, _ := find(in.changes(alice, aliceSub, 0).Presence, waiting[0])
		return p.Availability == "Offline"
	})

	metrics := in.metrics()
	for _, id := range ids {
		if want := fmt.Sprintf("presenced_sip_subscriptions{endpoint=%q} 2\n", id); !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(metrics, "presenced_sip_notifies_total 0\n") || !strings.Contains(metrics, "presenced_sip_notifies_total ") {
		t.Error("metrics count no NOTIFY")
	}

	perIdentity := map[string]int{}
	perContact := map[string]int{}
	for _, w := range k.StopAndListWatchers(t) {
		perIdentity[w.Identity()]++
		perContact[strings.TrimPrefix(w.Presentity, "sip:")]++
	}
	wantContacts := map[string]int{}
	for _, c := range rest {
		wantContacts[c] = 1
	}
	if diff := cmp.Diff(map[string]int{ids[0]: 2, ids[1]: 2, ids[2]: 2}, perIdentity); diff != "" {
		t.Errorf("Kamailio's dialogs per endpoint identity (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantContacts, perContact); diff != "" {
		t.Errorf("Kamailio's dialogs per contact (-want +got):\n%s", diff)
	}
}

// TestSIPServerRestart restarts Kamailio under a running presenced: the
// app sees bob Unknown with reason backend_error while the subscription
// is re-established, then bob's state again, without manual action.
func TestSIPServerRestart(t *testing.T) {
	k := kamailiotest.Start(t, kamailiotest.Options{})
	in := newInstance(t, sipYAML(k.Addr())+"    expires: 4s\n")
	alice := in.token("alice@example.com")
	in.start()
	sw, err := watcher.New(watcher.Config{Server: k.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	publishBob := func(p status.Presence) { publishAs(t, sw, "sip:bob@example.com", p, "") }
	publishBob(status.Presence{Availability: status.Available})
	var sub subscriptionJSON
	if code := in.call("POST", in.client+"/v1/subscriptions", alice, map[string]any{"users": []string{"bob@example.com"}}, &sub); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}
	bob := func() presenceJSON {
		p, _ := find(in.changes(alice, sub.ID, 0).Presence, "bob@example.com")
		return p
	}
	eventually(t, "bob Available", func() bool { return bob().Availability == "Available" })

	k.Restart(t)
	eventually(t, "bob Unknown while the subscription is re-established", func() bool {
		p := bob()
		return p.Availability == "Unknown" && p.Reason == "backend_error"
	})
	// bob's client publishes again to the restarted server (its
	// publication was lost with the server's state).
	eventually(t, "bob's state back", func() bool {
		publishBob(status.Presence{Availability: status.Busy, Note: "back"})
		p := bob()
		return p.Availability == "Busy" && p.Note == "back"
	})
	// The loss was counted, and refreshes (every 3 s) report their lag.
	eventually(t, "a refresh lag observed", func() bool { return in.metric("presenced_sip_refresh_lag_seconds_count") > 0 })
	if n := in.metric("presenced_sip_subscriptions_lost_total"); n < 1 {
		t.Errorf("presenced_sip_subscriptions_lost_total = %v after a restart, want at least 1", n)
	}
}
