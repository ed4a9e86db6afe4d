package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// notifySummary is the part of `presenced bench notify --json` the test
// reads.
type notifySummary struct {
	SIP *struct {
		Connections      int               `json:"connections"`
		Dialogs          int               `json:"dialogs"`
		Sent             uint64            `json:"sent"`
		Answered2xx      uint64            `json:"answered_2xx"`
		AnsweredOther    uint64            `json:"answered_other"`
		Unanswered       uint64            `json:"unanswered"`
		AnsweredByStatus map[string]uint64 `json:"answered_by_status"`
	} `json:"sip"`
	Deliveries uint64 `json:"deliveries"`
	Server     *struct {
		SIPNotifies          uint64  `json:"sip_notifies"`
		NotifiesPerCPUSecond float64 `json:"notifies_per_cpu_second"`
	} `json:"server"`
}

// holdSIPAddress answers OPTIONS on addr until the returned function is
// called, so that presenced on backend.kind sip reports ready before the
// load tool takes the address over.
func holdSIPAddress(t *testing.T, addr string) func() {
	t.Helper()
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeTCP(ln)
	}()
	return func() {
		_ = ln.Close()
		_ = ua.Close()
		<-done
	}
}

// TestBenchNotify runs the notify scenario against presenced on
// backend.kind sip whose SIP server is the load tool: every contact gets
// a dialog, and the NOTIFYs are answered 200, counted by the server's SIP
// backend and delivered to the watchers' streams.
func TestBenchNotify(t *testing.T) {
	sipAddr := freePort(t)
	in := newInstance(t, benchConfig+fmt.Sprintf("backend:\n  kind: sip\n  max_subscriptions_per_endpoint: 100\n  sip:\n    server: %q\n    transport: tcp\n    domain: bench.test\n", sipAddr))
	admin := in.adminToken()
	release := holdSIPAddress(t, sipAddr)
	in.start()
	release()

	stdout, stderr, code := run(t, nil, "bench", "notify", "--target", in.client, "--admin", in.admin, "--admin-token", admin,
		"--json", "-", "--progress", "0", "--contacts", "30", "--watchers", "3", "--sip-listen", sipAddr,
		"--rate", "300", "--window", "8", "--duration", "2s", "--warmup", "500ms")
	if code != 0 {
		t.Fatalf("bench notify: exit %d\n%s", code, stderr)
	}
	var generic benchSummary
	var s notifySummary
	if err := json.Unmarshal([]byte(stdout), &generic); err != nil {
		t.Fatalf("summary %q: %v", stdout, err)
	}
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("summary %q: %v", stdout, err)
	}
	// A loaded machine may keep the tool below its rate (a warning);
	// any other warning is a finding.
	var warnings []string
	for _, w := range generic.Warnings {
		if !strings.Contains(w, " reached ") {
			warnings = append(warnings, w)
		}
	}
	if generic.Scenario != "notify" || generic.Interrupted || generic.Errors.Total != 0 || len(warnings) > 0 || s.SIP == nil || s.Server == nil {
		t.Fatalf("summary %s\n%s", stdout, stderr)
	}
	sp := s.SIP
	if sp.Dialogs != 30 || sp.Answered2xx == 0 || sp.AnsweredOther != 0 || sp.Unanswered != 0 || sp.Sent != sp.Answered2xx {
		t.Errorf("sip: %+v, want 30 dialogs and every NOTIFY answered 2xx", *sp)
	}
	// Every measured NOTIFY reached the SIP backend (it counts the
	// warm-up and first NOTIFYs of the window too).
	if s.Server.SIPNotifies < sp.Answered2xx || s.Server.NotifiesPerCPUSecond <= 0 {
		t.Errorf("server: %+v for %d NOTIFYs answered", *s.Server, sp.Answered2xx)
	}
	if s.Deliveries == 0 {
		t.Error("no change delivered to the watchers' streams")
	}
	if !strings.Contains(stderr, "presenced bench notify against "+in.client) {
		t.Errorf("no text summary on stderr:\n%s", stderr)
	}
}
