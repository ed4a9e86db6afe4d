package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/store"
)

func TestDefaultSIPEndpoints(t *testing.T) {
	tests := []struct {
		host, domain string
		n            int
		want         []string
	}{
		{"gw1", "example.com", 1, []string{"sip:presence_gw1@example.com"}},
		{"GW-Prod_2", "corp.example", 1, []string{"sip:presence_gw-prod2@corp.example"}},
		{"héllo wörld", "example.com", 1, []string{"sip:presence_hllowrld@example.com"}},
		{"gw1", "example.com", 3, []string{"sip:presence_gw1@example.com", "sip:presence_gw1-01@example.com", "sip:presence_gw1-02@example.com"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, DefaultSIPEndpoints(tt.host, tt.domain, tt.n)); diff != "" {
			t.Errorf("DefaultSIPEndpoints(%q, %q, %d) (-want +got):\n%s", tt.host, tt.domain, tt.n, diff)
		}
	}
}

func TestXMPPEndpoints(t *testing.T) {
	x := config.XMPPConfig{Mode: config.XMPPComponent, Clusters: []config.XMPPCluster{
		{Component: "presence.a.example", ComponentEndpoints: 2},
		{Component: "presence.b.example"},
	}}
	got := xmppEndpoints(x)
	if len(got) != 12 || got[0] != "presence.a.example#1" || got[1] != "presence.a.example#2" || got[2] != "presence.b.example#1" {
		t.Errorf("component endpoints %v, want 2 for a then 10 for b", got)
	}
	x.Mode = config.XMPPAccounts
	x.Clusters[0].Accounts, x.Clusters[1].Accounts = []string{"ep1@a.example"}, []string{"ep1@b.example", "ep2@b.example"}
	if diff := cmp.Diff([]string{"ep1@a.example", "ep1@b.example", "ep2@b.example"}, xmppEndpoints(x)); diff != "" {
		t.Errorf("account endpoints (-want +got):\n%s", diff)
	}
}

// TestCommandLineChangesAreAudited: accounts and tokens made by the
// commands are in the audit log like the admin API's, without secrets.
func TestCommandLineChangesAreAudited(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	if err := CreateAdminAccount(ctx, cfg, "root", "a long passphrase", log); err != nil {
		t.Fatal(err)
	}
	secret, err := CreateToken(ctx, cfg, "Alice@Example.com", log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateAdminToken(ctx, cfg, log); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, err := st.Audit().List(ctx, store.AuditQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Actor, Action, Target string }
	var got []row
	for _, e := range entries {
		got = append(got, row{e.Actor, e.Action, e.Target})
		if strings.Contains(e.After, secret) || strings.Contains(e.After, "passphrase") {
			t.Errorf("audit entry %+v holds a secret", e)
		}
	}
	want := []row{{cliActor, "token.create", "admin"}, {cliActor, "token.create", "alice@example.com"}, {cliActor, "account.create", "root"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit log, newest first (-want +got):\n%s", diff)
	}
}
