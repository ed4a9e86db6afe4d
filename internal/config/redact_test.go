package config_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/config"
)

func TestRedacted(t *testing.T) {
	const secret = "s3cr3t-hmac-key"
	c := config.Default()
	c.Push.WebhookURL = "https://relay:" + secret + "@relay.example.com/hook"
	c.Push.Secret = secret
	c.Allowlist.Domains = []string{"example.com"}

	got := c.Redacted()

	if keys := slices.Sorted(func(yield func(string) bool) {
		for k := range got {
			if !yield(k) {
				return
			}
		}
	}); !cmp.Equal(keys, config.KeyPaths()) {
		t.Errorf("Redacted keys differ from KeyPaths (-want +got):\n%s", cmp.Diff(config.KeyPaths(), keys))
	}
	if dump := fmt.Sprint(got); strings.Contains(dump, secret) {
		t.Errorf("Redacted() leaks the secret: %s", dump)
	}

	want := map[string]any{
		"push.secret":                         "REDACTED",
		"push.webhook_url":                    "https://REDACTED@relay.example.com/hook",
		"auth.oidc.issuer":                    "",
		"presence.subscription_ttl":           "3m0s",
		"presence.max_contacts_per_request":   1000,
		"http.max_body_bytes":                 int64(1 << 20),
		"auth.rate_limit.requests_per_second": 50.0,
		"allowlist.enabled":                   false,
		"allowlist.domains":                   []string{"example.com"},
		"backend.endpoints":                   []string{},
		"listen":                              ":8080",
	}
	for key, w := range want {
		if diff := cmp.Diff(w, got[key]); diff != "" {
			t.Errorf("Redacted()[%q] (-want +got):\n%s", key, diff)
		}
	}

	// An unset secret stays visibly unset.
	if got := config.Default().Redacted()["push.secret"]; got != "" {
		t.Errorf("Redacted()[push.secret] for an empty secret = %v, want \"\"", got)
	}

	// The result is a copy: changing it does not change the config.
	got["allowlist.domains"].([]string)[0] = "changed.com"
	if c.Allowlist.Domains[0] != "example.com" {
		t.Error("Redacted() shares the domains slice with the config")
	}
}

func TestTablesRoundTrip(t *testing.T) {
	c := config.Default()
	c.Backend.Kind = config.BackendXMPP
	c.Backend.XMPP.Clusters = []config.XMPPCluster{
		{Name: "a", Server: "a.example.com:5275", Component: "p.a.example.com", Secret: "s3cret", Domains: []string{"a.example.com"}, ComponentEndpoints: 3, NoInitialPresence: true},
		{Name: "b", Server: "b.example.com:5275", Component: "p.b.example.com", SecretFile: "/run/b", XMPPDomain: "b.example.com", TLS: "none"},
	}
	items := c.Tables("backend.xmpp.clusters")
	if got := items[0]["secret"]; got != "s3cret" {
		t.Errorf("Tables keeps secrets: secret = %v", got)
	}
	raw := make([]any, len(items))
	for i, m := range items {
		raw[i] = map[string]any(m)
	}
	got, err := config.Load(config.Source{Saved: map[string]any{"backend.kind": "xmpp", "backend.xmpp.clusters": raw}})
	if err != nil {
		t.Fatalf("Load of Tables' items: %v", err)
	}
	if diff := cmp.Diff(c.Backend.XMPP.Clusters, got.Backend.XMPP.Clusters); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if config.Default().Tables("listen") != nil {
		t.Error("Tables of a plain key is not nil")
	}
}
