package dialog

import (
	"errors"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/google/go-cmp/cmp"
)

func uri(t *testing.T, s string) sip.Uri {
	t.Helper()
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		t.Fatalf("ParseUri(%q): %v", s, err)
	}
	return u
}

// parse parses a SIP message written with \n line ends.
func parse(t *testing.T, raw string) sip.Message {
	t.Helper()
	m, err := sip.ParseMessage([]byte(strings.ReplaceAll(raw, "\n", "\r\n")))
	if err != nil {
		t.Fatalf("ParseMessage: %v\n%s", err, raw)
	}
	return m
}

func newDialog(t *testing.T) *Dialog {
	return New(uri(t, "sip:presence_gw@example.com"), uri(t, "sip:bob@example.com"), "call-1", "ltag", 100)
}

// notify is a NOTIFY in the test dialog with the given CSeq and
// optional extra header lines.
func notify(t *testing.T, fromTag string, cseq string, extra ...string) *sip.Request {
	t.Helper()
	raw := "NOTIFY sip:gw@127.0.0.1:5070;transport=tcp SIP/2.0\n" +
		"Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKn1\n" +
		"From: <sip:bob@example.com>;tag=" + fromTag + "\n" +
		"To: <sip:presence_gw@example.com>;tag=ltag\n" +
		"Call-ID: call-1\n" +
		"CSeq: " + cseq + " NOTIFY\n" +
		strings.Join(extra, "") +
		"Event: presence\n" +
		"Subscription-State: active;expires=60\n" +
		"Content-Length: 0\n\n"
	return parse(t, raw).(*sip.Request)
}

func ok200(t *testing.T, toTag string, extra ...string) *sip.Response {
	t.Helper()
	raw := "SIP/2.0 200 OK\n" +
		"Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKs1\n" +
		"From: <sip:presence_gw@example.com>;tag=ltag\n" +
		"To: <sip:bob@example.com>;tag=" + toTag + "\n" +
		"Call-ID: call-1\n" +
		"CSeq: 101 SUBSCRIBE\n" +
		strings.Join(extra, "") +
		"Expires: 60\n" +
		"Content-Length: 0\n\n"
	return parse(t, raw).(*sip.Response)
}

// state is what the tests compare of a dialog.
type state struct {
	Established bool
	RemoteTag   string
	Target      string
	Routes      []string
}

func stateOf(d *Dialog) state {
	s := state{Established: d.Established, RemoteTag: d.RemoteTag, Target: d.Target.String()}
	for _, r := range d.RouteSet {
		s.Routes = append(s.Routes, r.String())
	}
	return s
}

func TestAcceptedEstablishesWithReversedRecordRoute(t *testing.T) {
	d := newDialog(t)
	first := d.Request(sip.SUBSCRIBE)
	if got := first.Recipient.String(); got != "sip:bob@example.com" {
		t.Errorf("initial Request-URI %s, want the presentity", got)
	}
	if tag, ok := first.To().Params.Get("tag"); ok {
		t.Errorf("initial To has tag %q", tag)
	}
	res := ok200(t, "rtag",
		"Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\n",
		"Record-Route: <sip:p3.example.com;lr>\n",
		"Contact: <sip:kamailio@127.0.0.1:5060;transport=tcp>\n")
	if err := d.Accepted(res); err != nil {
		t.Fatal(err)
	}
	want := state{true, "rtag", "sip:kamailio@127.0.0.1:5060;transport=tcp",
		[]string{"sip:p3.example.com;lr", "sip:p2.example.com;lr", "sip:p1.example.com;lr"}}
	if diff := cmp.Diff(want, stateOf(d)); diff != "" {
		t.Errorf("dialog (-want +got):\n%s", diff)
	}

	// In-dialog requests carry both tags, the next CSeq, the target and the routes.
	req := d.Request(sip.SUBSCRIBE)
	to, _ := req.To().Params.Get("tag")
	from, _ := req.From().Params.Get("tag")
	var routes []string
	for _, h := range req.GetHeaders("Route") {
		routes = append(routes, h.Value())
	}
	got := []string{req.Recipient.String(), from, to, string(*req.CallID()), req.CSeq().Value()}
	wantReq := []string{"sip:kamailio@127.0.0.1:5060;transport=tcp", "ltag", "rtag", "call-1", "102 SUBSCRIBE"}
	if diff := cmp.Diff(wantReq, got); diff != "" {
		t.Errorf("refresh request (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"<sip:p3.example.com;lr>", "<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"}, routes); diff != "" {
		t.Errorf("Route headers (-want +got):\n%s", diff)
	}
}

func TestNotifyBeforeTheOK(t *testing.T) {
	d := newDialog(t)
	d.Request(sip.SUBSCRIBE)
	n := notify(t, "rtag", "1",
		"Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\n",
		"Contact: <sip:kamailio@127.0.0.1:5060;transport=tcp>\n")
	if err := d.Notify(n); err != nil {
		t.Fatal(err)
	}
	// As UAS of the NOTIFY the route set keeps the Record-Route order.
	want := state{true, "rtag", "sip:kamailio@127.0.0.1:5060;transport=tcp",
		[]string{"sip:p1.example.com;lr", "sip:p2.example.com;lr"}}
	if diff := cmp.Diff(want, stateOf(d)); diff != "" {
		t.Errorf("dialog after NOTIFY (-want +got):\n%s", diff)
	}
	// The late 200 of the same dialog changes nothing.
	if err := d.Accepted(ok200(t, "rtag", "Record-Route: <sip:other.example.com;lr>\n", "Contact: <sip:x@192.0.2.1>\n")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, stateOf(d)); diff != "" {
		t.Errorf("dialog after the late 200 (-want +got):\n%s", diff)
	}
	// A 200 from another dialog (a forked answer) is not kept.
	if err := d.Accepted(ok200(t, "other")); !errors.Is(err, ErrNoDialog) {
		t.Errorf("200 with another to-tag: %v, want ErrNoDialog", err)
	}
}

func TestNotifyChecks(t *testing.T) {
	d := newDialog(t)
	d.Request(sip.SUBSCRIBE)
	if err := d.Accepted(ok200(t, "rtag", "Contact: <sip:kamailio@127.0.0.1:5060;transport=tcp>\n")); err != nil {
		t.Fatal(err)
	}
	if err := d.Notify(notify(t, "rtag", "5")); err != nil {
		t.Fatalf("first NOTIFY: %v", err)
	}
	tests := []struct {
		name string
		req  *sip.Request
		want error
	}{
		{"same CSeq", notify(t, "rtag", "5"), ErrCSeqOrder},
		{"lower CSeq", notify(t, "rtag", "4"), ErrCSeqOrder},
		{"other from-tag", notify(t, "intruder", "6"), ErrNoDialog},
		{"no from-tag", parse(t, "NOTIFY sip:gw@127.0.0.1 SIP/2.0\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKx\nFrom: <sip:bob@example.com>\nTo: <sip:presence_gw@example.com>;tag=ltag\nCall-ID: call-1\nCSeq: 9 NOTIFY\nContent-Length: 0\n\n").(*sip.Request), ErrMalformed},
		{"other Call-ID", parse(t, "NOTIFY sip:gw@127.0.0.1 SIP/2.0\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKx\nFrom: <sip:bob@example.com>;tag=rtag\nTo: <sip:presence_gw@example.com>;tag=ltag\nCall-ID: call-2\nCSeq: 9 NOTIFY\nContent-Length: 0\n\n").(*sip.Request), ErrNoDialog},
		{"no CSeq", parse(t, "NOTIFY sip:gw@127.0.0.1 SIP/2.0\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKx\nFrom: <sip:bob@example.com>;tag=rtag\nTo: <sip:presence_gw@example.com>;tag=ltag\nCall-ID: call-1\nContent-Length: 0\n\n").(*sip.Request), ErrMalformed},
	}
	for _, tt := range tests {
		if err := d.Notify(tt.req); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	// A later NOTIFY with a Contact refreshes the target.
	if err := d.Notify(notify(t, "rtag", "6", "Contact: <sip:kamailio@127.0.0.1:5099;transport=tcp>\n")); err != nil {
		t.Fatal(err)
	}
	if got := d.Target.String(); got != "sip:kamailio@127.0.0.1:5099;transport=tcp" {
		t.Errorf("target %s after a target refresh", got)
	}
}

func TestEstablishNeedsContact(t *testing.T) {
	d := newDialog(t)
	if err := d.Notify(notify(t, "rtag", "1")); !errors.Is(err, ErrMalformed) {
		t.Errorf("first NOTIFY without Contact: %v, want ErrMalformed", err)
	}
	if err := d.Accepted(ok200(t, "")); !errors.Is(err, ErrMalformed) {
		t.Errorf("2xx without To tag: %v, want ErrMalformed", err)
	}
	if d.Established {
		t.Error("dialog established from incomplete messages")
	}
}

// FuzzNotify feeds arbitrary messages to an established dialog: none
// may crash it, every refusal is one of the package's errors, and the
// dialog stays established with its remote tag.
func FuzzNotify(f *testing.F) {
	seed := "NOTIFY sip:gw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKx\r\n" +
		"From: <sip:bob@example.com>;tag=rtag\r\nTo: <sip:presence_gw@example.com>;tag=ltag\r\n" +
		"Call-ID: call-1\r\nCSeq: 9 NOTIFY\r\nContact: <sip:k@127.0.0.1:5060>\r\nRecord-Route: <sip:p@example.com;lr>\r\nContent-Length: 0\r\n\r\n"
	f.Add([]byte(seed))
	f.Add([]byte(strings.Replace(seed, "CSeq: 9", "CSeq: 1", 1)))
	f.Add([]byte(strings.Replace(seed, "tag=rtag", "tag=", 1)))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := sip.ParseMessage(raw)
		if err != nil {
			return
		}
		req, ok := m.(*sip.Request)
		if !ok {
			return
		}
		d := newDialog(t)
		if err := d.Accepted(ok200(t, "rtag", "Contact: <sip:k@127.0.0.1:5060>\n")); err != nil {
			t.Fatal(err)
		}
		if err := d.Notify(req); err != nil && !errors.Is(err, ErrNoDialog) && !errors.Is(err, ErrCSeqOrder) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Notify: unexpected error %v", err)
		}
		if !d.Established || d.RemoteTag != "rtag" {
			t.Fatalf("dialog changed identity: %+v", d)
		}
	})
}
