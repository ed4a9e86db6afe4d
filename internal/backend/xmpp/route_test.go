package xmpp

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRoute(t *testing.T) {
	r, err := newRouter([]Cluster{
		{Name: "emea", Domains: []string{"eu.example.com", "Example.co.uk"}, XMPPDomain: "im.example.com"},
		{Name: "us", Domains: []string{"example.com"}},
		{Name: "rest"},
	})
	if err != nil {
		t.Fatal(err)
	}
	type out struct {
		Cluster int
		JID     string
	}
	tests := []struct {
		contact string
		want    out
		wantErr bool
	}{
		{contact: "Alice@EU.example.com", want: out{0, "alice@im.example.com"}},
		{contact: "bob@example.co.uk", want: out{0, "bob@im.example.com"}},
		{contact: "carol@example.com", want: out{1, "carol@example.com"}},
		{contact: "dave@other.org", want: out{2, "dave@other.org"}},
		{contact: "not-an-email", wantErr: true},
		{contact: "@example.com", wantErr: true},
	}
	for _, tt := range tests {
		i, jid, err := r.route(tt.contact)
		if tt.wantErr {
			if err == nil {
				t.Errorf("route(%q) = %d %q, want an error", tt.contact, i, jid)
			}
			continue
		}
		if err != nil {
			t.Errorf("route(%q): %v", tt.contact, err)
			continue
		}
		if diff := cmp.Diff(tt.want, out{i, jid}); diff != "" {
			t.Errorf("route(%q) (-want +got):\n%s", tt.contact, diff)
		}
	}
}

func TestRouteWithoutCatchAll(t *testing.T) {
	r, err := newRouter([]Cluster{{Name: "us", Domains: []string{"example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.route("dave@other.org"); err == nil {
		t.Error("a domain no cluster serves was routed")
	}
	for _, bad := range [][]Cluster{
		{{Name: "a"}, {Name: "b"}},
		{{Name: "a", Domains: []string{"x.com"}}, {Name: "b", Domains: []string{"X.com"}}},
	} {
		if _, err := newRouter(bad); err == nil {
			t.Errorf("newRouter(%v) accepted overlapping clusters", bad)
		}
	}
}
