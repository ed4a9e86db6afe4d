package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/directory/slapdtest"
	"github.com/presenced/presenced/internal/sip/kamailiotest"
	"github.com/presenced/presenced/internal/sip/watcher"
	"github.com/presenced/presenced/internal/status"
)

// TestDirectoryResolvesSIPAddresses runs presenced on a real Kamailio with
// a real OpenLDAP as its directory: bob's SIP address comes from
// msRTCSIP-PrimaryUserAddress (not his email), a disabled user is
// not_enabled, an unknown email not_found; the contact card and search
// are served; with slapd down an unresolved contact is
// Unknown/backend_error and the directory endpoints answer 503, and both
// recover by themselves when slapd is back. The connection is StartTLS
// verified against a trust store holding slapd's certificate; the bind
// password comes from the environment.
func TestDirectoryResolvesSIPAddresses(t *testing.T) {
	off := false
	dir := slapdtest.Start(t, slapdtest.Options{Users: []slapdtest.User{
		{SAMAccountName: "bob", Mail: "bob@example.com", GivenName: "Bob", SN: "Baker", DisplayName: "Bob Baker",
			Title: "Dispatcher", SIPAddress: "sip:robert.baker@example.com"},
		{SAMAccountName: "dave", Mail: "dave@example.com", DisplayName: "Dave Disabled", SIPAddress: "sip:dave@example.com", SIPEnabled: &off},
		{SAMAccountName: "frank", Mail: "frank@example.com", DisplayName: "Frank Later", SIPAddress: "sip:frank.l@example.com"},
	}})
	k := kamailiotest.Start(t, kamailiotest.Options{})
	sw, err := watcher.New(watcher.Config{Server: k.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	publishAs(t, sw, "sip:robert.baker@example.com", status.Presence{Availability: status.Busy, Note: "on the road"}, "")
	publishAs(t, sw, "sip:frank.l@example.com", status.Presence{Availability: status.Away, Note: "back soon"}, "")

	in := newInstance(t, sipYAML(k.Addr())+ldapYAML(dir)+"    negative_ttl: 0s\n", "PRESENCED_DIRECTORY_LDAP_BIND_PASSWORD="+dir.BindPassword())
	alice := in.token("alice@example.com")
	in.start()

	var sub subscriptionJSON
	if code := in.call("POST", in.client+"/v1/subscriptions", alice, map[string]any{"users": []string{"bob@example.com", "dave@example.com", "erin@example.com"}}, &sub); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}
	get := func(id, user string) presenceJSON {
		p, _ := find(in.changes(alice, id, 0).Presence, user)
		return p
	}
	eventually(t, "bob's presence at his directory SIP address", func() bool {
		p := get(sub.ID, "bob@example.com")
		return p.Availability == "Busy" && p.Note == "on the road"
	})
	eventually(t, "dave not_enabled, erin not_found", func() bool {
		d, e := get(sub.ID, "dave@example.com"), get(sub.ID, "erin@example.com")
		return d.Availability == "Unknown" && d.Reason == "not_enabled" && e.Availability == "Unknown" && e.Reason == "not_found"
	})
	var card map[string]string
	if code := in.call("GET", in.client+"/v1/directory/users/bob@example.com", alice, nil, &card); code != 200 || card["displayName"] != "Bob Baker" || card["title"] != "Dispatcher" || card["sAMAccountName"] != "bob" {
		t.Errorf("card: %d %v", code, card)
	}
	var found struct{ Users []map[string]string }
	if code := in.call("GET", in.client+"/v1/directory/search?q=*)(mail%3D*", alice, nil, &found); code != 200 || len(found.Users) != 0 {
		t.Errorf("search with filter metacharacters: %d %v, want 200 and nothing", code, found.Users)
	}
	if code := in.call("GET", in.client+"/v1/directory/search?q=ba&limit=5", alice, nil, &found); code != 200 || len(found.Users) != 1 || found.Users[0]["mail"] != "bob@example.com" {
		t.Errorf("search ba: %d %v, want bob", code, found.Users)
	}

	// The directory goes down: a contact not resolved yet is
	// Unknown/backend_error, the endpoints 503; both recover by themselves.
	dir.Stop()
	var later subscriptionJSON
	if code := in.call("POST", in.client+"/v1/subscriptions", alice, map[string]any{"users": []string{"frank@example.com"}, "key": "later"}, &later); code != 201 {
		t.Fatalf("subscribe frank: %d", code)
	}
	eventually(t, "frank Unknown/backend_error while the directory is down", func() bool {
		p := get(later.ID, "frank@example.com")
		return p.Availability == "Unknown" && p.Reason == "backend_error"
	})
	if code := in.call("GET", in.client+"/v1/directory/users/frank@example.com", alice, nil, nil); code != http.StatusServiceUnavailable {
		t.Errorf("card with the directory down: %d, want 503", code)
	}
	if p := get(sub.ID, "bob@example.com"); p.Availability != "Busy" {
		t.Errorf("bob, resolved before, shows %+v while the directory is down", p)
	}
	dir.Restart(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		p := get(later.ID, "frank@example.com")
		if p.Availability == "Away" && p.Note == "back soon" {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("frank after the directory came back: %+v\n%s", p, in.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code := in.call("GET", in.client+"/v1/directory/users/frank@example.com", alice, nil, &card); code != 200 || card["displayName"] != "Frank Later" {
		t.Errorf("card after recovery: %d %v", code, card)
	}
}

// sipYAML is a config file's presence and backend sections for one SIP
// endpoint on server over TCP, changes delivered without coalescing. It
// ends inside backend.sip, so more of its keys may follow.
func sipYAML(server string) string {
	return fmt.Sprintf("presence:\n  coalesce_interval: 0s\nbackend:\n  kind: sip\n  endpoints: [\"sip:presence_e2e@example.com\"]\n  sip:\n    transport: tcp\n    server: %q\n", server)
}

// ldapYAML is the directory section of a config file for dir: StartTLS
// verified against its certificate, the service account bound with the
// password from PRESENCED_DIRECTORY_LDAP_BIND_PASSWORD. It ends inside
// directory.ldap, so more of its keys may follow.
func ldapYAML(dir *slapdtest.Server) string {
	return fmt.Sprintf(`directory:
  kind: ldap
  ldap:
    url: %q
    starttls: true
    trust_store: %q
    domain: example.com
    bind_dn: %q
    timeout: 1s
`, dir.URL(), dir.CertFile(), dir.BindDN())
}
