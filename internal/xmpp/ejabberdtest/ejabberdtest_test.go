package ejabberdtest

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// wantPrivilege is the XEP-0356 advertisement ejabberd 23.01 sends to a
// component granted roster both, message outgoing, and presence
// managed_entity and roster (which it reports as presence roster alone).
// The order of the perms is not part of the protocol.
var wantPrivilege = element{
	From: DefaultDomain,
	To:   DefaultComponent,
	Privilege: &privilege{
		Perms: []perm{
			{Access: "roster", Type: "both"},
			{Access: "message", Type: "outgoing"},
			{Access: "presence", Type: "roster"},
		},
	},
}

// TestEjabberd starts one privileged ejabberd for the package and runs the
// component, c2s, user and restart checks against it, in order.
func TestEjabberd(t *testing.T) {
	begin := time.Now()
	srv := Start(t, Options{Privileged: true})
	t.Logf("start: %v, node %s, c2s %s, component %s", time.Since(begin).Round(time.Millisecond),
		srv.Node(), srv.C2SAddr(), srv.ComponentAddr())

	t.Run("component handshake and privilege", func(t *testing.T) {
		checkComponent(t, srv)
	})

	t.Run("component wrong secret", func(t *testing.T) {
		c := dialComponent(t, srv.ComponentAddr(), srv.Component())
		err := c.handshake(t, srv.Secret()+"x")
		if diff := cmp.Diff("stream error not-authorized", fmt.Sprint(err)); diff != "" {
			t.Errorf("handshake with a wrong secret (-want +got):\n%s", diff)
		}
	})

	t.Run("component unknown address", func(t *testing.T) {
		c := dialComponent(t, srv.ComponentAddr(), "other."+srv.Domain())
		err := c.handshake(t, srv.Secret())
		if err == nil {
			t.Fatal("handshake for an address not in the listener's hosts succeeded")
		}
		t.Logf("handshake for another address: %v", err)
	})

	t.Run("c2s starttls", func(t *testing.T) {
		got := checkC2S(t, srv)
		t.Logf("c2s after STARTTLS: %s, SASL %v", got.TLSVersion, got.Mechanisms)
		want := c2sResult{StartTLS: true, Required: true, TLSVersion: "TLS 1.3", Mechanisms: got.Mechanisms}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("c2s (-want +got):\n%s", diff)
		}
		for _, m := range []string{"PLAIN", "SCRAM-SHA-1"} {
			if !slices.Contains(got.Mechanisms, m) {
				t.Errorf("SASL mechanisms %v lack %s", got.Mechanisms, m)
			}
		}
	})

	t.Run("add user", func(t *testing.T) {
		begin := time.Now()
		srv.AddUser(t, "alice", "alice-pw")
		t.Logf("AddUser: %v", time.Since(begin).Round(time.Millisecond))
		if diff := cmp.Diff([]string{"alice"}, registered(t, srv)); diff != "" {
			t.Errorf("registered_users (-want +got):\n%s", diff)
		}
		out, err := srv.RunCtl("register", "alice", srv.Domain(), "other")
		if !errIsExit(err) || !strings.Contains(out, "conflict") {
			t.Errorf("registering alice again: %q, %v; want a conflict", out, err)
		}
	})

	var want []string
	t.Run("add users", func(t *testing.T) {
		users := map[string]string{}
		for i := range 200 {
			users[fmt.Sprintf("user%03d", i)] = fmt.Sprintf("pw'\"\\%d", i)
		}
		begin := time.Now()
		srv.AddUsers(t, users)
		t.Logf("AddUsers(200): %v", time.Since(begin).Round(time.Millisecond))
		want = []string{"alice"}
		for u := range users {
			want = append(want, u)
		}
		slices.Sort(want)
		if diff := cmp.Diff(want, registered(t, srv)); diff != "" {
			t.Errorf("registered_users (-want +got):\n%s", diff)
		}
		if out, err := srv.RunCtl("check_password", "user007", srv.Domain(), users["user007"]); err != nil {
			t.Errorf("check_password of a batch user: %v", err)
		} else {
			t.Logf("check_password: %q", out)
		}
	})

	t.Run("restart keeps users", func(t *testing.T) {
		begin := time.Now()
		srv.Restart(t)
		t.Logf("Restart: %v", time.Since(begin).Round(time.Millisecond))
		if diff := cmp.Diff(want, registered(t, srv)); diff != "" {
			t.Errorf("registered_users after restart (-want +got):\n%s", diff)
		}
		checkComponent(t, srv)
	})

	t.Run("stop is idempotent", func(t *testing.T) {
		begin := time.Now()
		srv.Stop()
		t.Logf("Stop: %v", time.Since(begin).Round(time.Millisecond))
		srv.Stop()
		if _, err := srv.RunCtl("status"); err == nil {
			t.Error("ejabberdctl status succeeded after Stop")
		}
	})
}

// checkComponent connects the component with the right secret and checks
// the privilege advertisement it receives.
func checkComponent(t *testing.T, srv *Server) {
	t.Helper()
	c := dialComponent(t, srv.ComponentAddr(), srv.Component())
	if err := c.handshake(t, srv.Secret()); err != nil {
		t.Fatalf("handshake: %v\n%s", err, srv.LogTail(20))
	}
	got, before := c.waitPrivilege(t)
	t.Logf("component got %v before <privilege xmlns=%q/>", before, got.Privilege.XMLName.Space)
	if got.Privilege.XMLName.Space != "urn:xmpp:privilege:1" {
		t.Errorf("privilege namespace %q, want urn:xmpp:privilege:1", got.Privilege.XMLName.Space)
	}
	got.XMLName, got.Privilege.XMLName, got.Type, got.Children = xml.Name{}, xml.Name{}, "", nil
	sortPerms := cmpopts.SortSlices(func(a, b perm) bool { return a.Access < b.Access })
	if diff := cmp.Diff(wantPrivilege, got, sortPerms); diff != "" {
		t.Errorf("privilege advertisement (-want +got):\n%s", diff)
	}
}

// registered returns the users ejabberdctl registered_users lists.
func registered(t *testing.T, srv *Server) []string {
	t.Helper()
	out := srv.Ctl(t, "registered_users", srv.Domain())
	if out == "" {
		return nil
	}
	users := strings.Split(out, "\n")
	slices.Sort(users)
	return users
}

func TestErlBinary(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "<<>>"},
		{"hi", "<<104,105>>"},
		{`"\`, "<<34,92>>"},
		{"é", "<<195,169>>"},
	}
	for _, tt := range tests {
		if got := erlBinary(tt.in); got != tt.want {
			t.Errorf("erlBinary(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUsersTerm(t *testing.T) {
	got := string(usersTerm(map[string]string{"b": "2", "a": "1"}))
	want := "[{<<97>>,<<49>>},\n{<<98>>,<<50>>}].\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("usersTerm (-want +got):\n%s", diff)
	}
}

func TestYAMLString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"example.com", `"example.com"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"x: y # z", `"x: y # z"`},
	}
	for _, tt := range tests {
		got, err := yamlString(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("yamlString(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
