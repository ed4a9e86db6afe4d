package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestBenchXMPP runs the xmpp scenario against presenced on backend.kind
// xmpp whose component port is the load tool: presenced connects and
// handshakes, and the presences the tool sends are ingested by the XMPP
// backend and delivered to the watchers' streams.
func TestBenchXMPP(t *testing.T) {
	addr := freePort(t)
	in := newInstance(t, benchConfig+fmt.Sprintf(`backend:
  kind: xmpp
  max_subscriptions_per_endpoint: 100
  xmpp:
    mode: component
    clusters:
      - {name: bench, server: %q, tls: none, component: presence.example.com, secret: bench-secret, xmpp_domain: example.com}
`, addr))
	admin := in.adminToken()
	in.notReady = true // the component port is the tool's, not up yet
	in.start()

	stdout, stderr, code := run(t, nil, "bench", "xmpp", "--target", in.client, "--admin", in.admin, "--admin-token", admin,
		"--json", "-", "--progress", "0", "--contacts", "30", "--watchers", "3", "--xmpp-listen", addr,
		"--secret", "bench-secret", "--rate", "300", "--duration", "2s", "--warmup", "500ms")
	if code != 0 {
		t.Fatalf("bench xmpp: exit %d\n%s", code, stderr)
	}
	var generic benchSummary
	var s struct {
		XMPP *struct {
			Authenticated int    `json:"authenticated"`
			Sent          uint64 `json:"sent"`
			Ingested      uint64 `json:"ingested"`
			Found         bool   `json:"ingest_metric_found"`
		} `json:"xmpp"`
		Deliveries uint64 `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(stdout), &generic); err != nil {
		t.Fatalf("summary %q: %v", stdout, err)
	}
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("summary %q: %v", stdout, err)
	}
	var warnings []string
	for _, w := range generic.Warnings {
		if !strings.Contains(w, " reached ") {
			warnings = append(warnings, w)
		}
	}
	if generic.Scenario != "xmpp" || generic.Interrupted || generic.Errors.Total != 0 || len(warnings) > 0 || s.XMPP == nil {
		t.Fatalf("summary %s\n%s", stdout, stderr)
	}
	if x := s.XMPP; x.Authenticated != 1 || x.Sent == 0 || !x.Found || x.Ingested < x.Sent*9/10 {
		t.Errorf("xmpp: %+v, want one authenticated component and (nearly) every stanza ingested", *x)
	}
	if s.Deliveries == 0 {
		t.Error("no change delivered to the watchers' streams")
	}
}
