package kamailiotest

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// ioTimeout bounds every read and write on the test connection.
const ioTimeout = 10 * time.Second

// TestKamailio starts one Kamailio for the package and runs the smoke flow
// and the restart case against it, in order, over raw TCP.
//
// Kamailio 5.6.3 behaviour these subtests pin down (where it differs from,
// or chooses among, the RFCs):
//   - SUBSCRIBE gets 200, not 202 (subs_respond_200=1, as RFC 6665 wants).
//   - The 200 to a SUBSCRIBE carries no Record-Route (record_route() does
//     not reach a locally generated reply) and a Contact of the presence
//     server (server_address), so in-dialog requests go straight there.
//   - The 200 to a SUBSCRIBE and the first NOTIFY both say expires=30 for a
//     requested 30 (no adjustment below max_expires).
//   - Whether the first NOTIFY precedes the 200 is logged, not asserted:
//     RFC 6665 allows both and a gateway must accept both.
//   - An un-SUBSCRIBE (Expires: 0) gets 200 and a NOTIFY with
//     Subscription-State: terminated (the reason parameter is logged).
//   - After Restart the old dialog is unknown: un-SUBSCRIBE gets 481.
func TestKamailio(t *testing.T) {
	srv := Start(t, Options{})
	c := dial(t, srv.Addr())
	bob := "sip:bob@" + srv.Domain()
	var (
		etag string
		dlg  dialog
	)

	t.Run("publish open", func(t *testing.T) {
		ex := c.roundTrip(t, c.publish(bob, "", pidf(bob, "open")), 0)
		got := publishResult{Status: ex.resp.status(), HasETag: ex.resp.Header.Get("Sip-Etag") != ""}
		if diff := cmp.Diff(publishResult{Status: 200, HasETag: true}, got); diff != "" {
			t.Fatalf("PUBLISH (-want +got):\n%s\n%s", diff, srv.LogTail(20))
		}
		etag = ex.resp.Header.Get("Sip-Etag")
		t.Logf("PUBLISH 200: SIP-ETag %q, Expires %q", etag, ex.resp.Header.Get("Expires"))
	})

	t.Run("subscribe", func(t *testing.T) {
		dlg = newDialog(bob, "sip:presence_gw@"+srv.Domain())
		ex := c.roundTrip(t, c.subscribe(&dlg, 30), 1)
		dlg.established(ex.resp)
		got := notifyResult{Status: ex.resp.status(), Dialog: dlg.toTag != ""}
		got.addNotify(t, ex.notifies[0])
		want := notifyResult{Status: 200, Dialog: true, Event: "presence", State: "active",
			Tuples: []tuple{{ID: "t1", Basic: "open"}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("SUBSCRIBE (-want +got):\n%s\n%s", diff, srv.LogTail(20))
		}
		t.Logf("SUBSCRIBE: NOTIFY before 200: %v; 200 Expires %q Contact %q Record-Route %q; NOTIFY Subscription-State %q",
			ex.notifyFirst, ex.resp.Header.Get("Expires"), ex.resp.Header.Get("Contact"),
			ex.resp.Header.Values("Record-Route"), ex.notifies[0].Header.Get("Subscription-State"))
	})

	t.Run("publish closed", func(t *testing.T) {
		ex := c.roundTrip(t, c.publish(bob, etag, pidf(bob, "closed")), 1)
		got := notifyResult{Status: ex.resp.status()}
		got.addNotify(t, ex.notifies[0])
		want := notifyResult{Status: 200, Event: "presence", State: "active",
			Tuples: []tuple{{ID: "t1", Basic: "closed"}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("PUBLISH modify (-want +got):\n%s\n%s", diff, srv.LogTail(20))
		}
		etag = ex.resp.Header.Get("Sip-Etag")
		t.Logf("PUBLISH modify: NOTIFY before 200: %v", ex.notifyFirst)
	})

	t.Run("unsubscribe", func(t *testing.T) {
		ex := c.roundTrip(t, c.subscribe(&dlg, 0), 1)
		got := notifyResult{Status: ex.resp.status(), Dialog: true}
		got.addNotify(t, ex.notifies[0])
		got.Tuples = nil // the final NOTIFY's body is not the point here
		want := notifyResult{Status: 200, Dialog: true, Event: "presence", State: "terminated"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("un-SUBSCRIBE (-want +got):\n%s\n%s", diff, srv.LogTail(20))
		}
		t.Logf("un-SUBSCRIBE: final NOTIFY Subscription-State %q, body:\n%s",
			ex.notifies[0].Header.Get("Subscription-State"), ex.notifies[0].Body)
	})

	t.Run("publish unknown etag", func(t *testing.T) {
		// RFC 3903 says 412; Kamailio 5.6 answers 500 (log: wrong etag).
		ex := c.roundTrip(t, c.publish(bob, "no-such-etag", pidf(bob, "open")), 0)
		if diff := cmp.Diff(500, ex.resp.status()); diff != "" {
			t.Fatalf("PUBLISH with unknown SIP-If-Match (-want +got):\n%s\n%s", diff, srv.LogTail(20))
		}
	})

	t.Run("restart forgets dialogs", func(t *testing.T) {
		dlg = newDialog(bob, "sip:presence_gw@"+srv.Domain())
		ex := c.roundTrip(t, c.subscribe(&dlg, 30), 1)
		dlg.established(ex.resp)
		c.close()

		srv.Restart(t)
		c = dial(t, srv.Addr())
		ex = c.roundTrip(t, c.subscribe(&dlg, 0), 0)
		if diff := cmp.Diff(481, ex.resp.status()); diff != "" {
			t.Fatalf("un-SUBSCRIBE after restart (-want +got):\n%s\n%s", diff, srv.LogTail(20))
		}
	})
	c.close()
}

// TestFilterVersion checks the reduction of the packaged db_text version
// table to the presence tables.
func TestFilterVersion(t *testing.T) {
	in := "id(int,auto) table_name(string) table_version(int) \n0:version:1\n0:acc:5\n0:presentity:5\n0:xcap:4\n"
	tests := []struct {
		name    string
		tables  []string
		want    string
		wantErr bool
	}{
		{name: "keeps listed", tables: []string{"presentity", "xcap"},
			want: "id(int,auto) table_name(string) table_version(int) \n0:presentity:5\n0:xcap:4\n"},
		{name: "missing table", tables: []string{"presentity", "pua"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := filterVersion([]byte(in), tt.tables)
			if diff := cmp.Diff(tt.wantErr, err != nil); diff != "" {
				t.Fatalf("error %v (-want +got):\n%s", err, diff)
			}
			if diff := cmp.Diff(tt.want, string(got)); !tt.wantErr && diff != "" {
				t.Errorf("filterVersion (-want +got):\n%s", diff)
			}
		})
	}
}

// publishResult is what the tests compare about a PUBLISH answer.
type publishResult struct {
	Status  int
	HasETag bool
}

// notifyResult is what the tests compare about a SUBSCRIBE or PUBLISH
// answer and the NOTIFY it caused.
type notifyResult struct {
	Status int
	Dialog bool   // the 200 established a dialog (To tag present)
	Event  string // NOTIFY Event header
	State  string // Subscription-State value without parameters
	Tuples []tuple
}

// addNotify records the parts of n that notifyResult compares.
func (r *notifyResult) addNotify(t *testing.T, n message) {
	t.Helper()
	r.Event = n.Header.Get("Event")
	r.State, _, _ = strings.Cut(n.Header.Get("Subscription-State"), ";")
	r.State = strings.TrimSpace(r.State)
	if n.Body == "" {
		return
	}
	var doc struct {
		Tuples []tuple `xml:"tuple"`
	}
	if err := xml.Unmarshal([]byte(n.Body), &doc); err != nil {
		t.Fatalf("NOTIFY body: %v\n%s", err, n.Body)
	}
	r.Tuples = doc.Tuples
}

// tuple is the part of a PIDF tuple the tests compare.
type tuple struct {
	ID    string `xml:"id,attr"`
	Basic string `xml:"status>basic"`
}

// pidf returns a one-tuple PIDF document for entity with basic status.
func pidf(entity, basic string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\r\n" +
		`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="` + entity + `">` +
		`<tuple id="t1"><status><basic>` + basic + `</basic></status>` +
		`<contact>` + entity + `</contact></tuple></presence>` + "\r\n"
}

// conn is one raw SIP-over-TCP connection to Kamailio.
type conn struct {
	nc    net.Conn
	r     *bufio.Reader
	local string // host:port of our end, used in Via and Contact
	cseq  int    // CSeq of out-of-dialog requests (PUBLISH)
}

// dial connects to addr and closes the connection when t ends.
func dial(t *testing.T, addr string) *conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &conn{nc: nc, r: bufio.NewReader(nc), local: nc.LocalAddr().String()}
	t.Cleanup(c.close)
	return c
}

// close closes the connection; it is idempotent.
func (c *conn) close() { _ = c.nc.Close() }

// dialog is the watcher side of one SUBSCRIBE dialog.
type dialog struct {
	target  string // request URI: the presentity, then the remote Contact
	route   []string
	from    string
	to      string
	callID  string
	fromTag string
	toTag   string
	cseq    int
}

// newDialog returns an unestablished dialog from watcher to presentity.
func newDialog(presentity, watcher string) dialog {
	return dialog{target: presentity, from: watcher, to: presentity,
		callID: randomToken() + "@kamailiotest", fromTag: randomToken()}
}

// established records the To tag, remote target and route set of a 2xx.
func (d *dialog) established(resp message) {
	if d.toTag != "" || resp.status()/100 != 2 {
		return
	}
	if _, tag, ok := strings.Cut(resp.Header.Get("To"), ";tag="); ok {
		d.toTag, _, _ = strings.Cut(tag, ";")
	}
	if c := resp.Header.Get("Contact"); c != "" {
		d.target = strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(c, ">", 2)[0], "<"), ">")
	}
	// A UAC's route set is the Record-Route list in reverse (RFC 3261 12.1.2).
	var rr []string
	for _, v := range resp.Header.Values("Record-Route") {
		for _, r := range strings.Split(v, ",") {
			rr = append([]string{strings.TrimSpace(r)}, rr...)
		}
	}
	d.route = rr
}

// publish returns a PUBLISH of body for entity, modifying etag if not "".
func (c *conn) publish(entity, etag, body string) string {
	c.cseq++
	h := []string{
		"From: <" + entity + ">;tag=" + randomToken(),
		"To: <" + entity + ">",
		"Call-ID: " + randomToken() + "@kamailiotest",
		fmt.Sprintf("CSeq: %d PUBLISH", c.cseq),
		"Event: presence",
		"Expires: 60",
		"Content-Type: application/pidf+xml",
	}
	if etag != "" {
		h = append(h, "SIP-If-Match: "+etag)
	}
	return c.request("PUBLISH", entity, h, body)
}

// subscribe returns the next SUBSCRIBE of d with the given Expires.
func (c *conn) subscribe(d *dialog, expires int) string {
	d.cseq++
	to := "To: <" + d.to + ">"
	if d.toTag != "" {
		to += ";tag=" + d.toTag
	}
	h := []string{
		"From: <" + d.from + ">;tag=" + d.fromTag,
		to,
		"Call-ID: " + d.callID,
		fmt.Sprintf("CSeq: %d SUBSCRIBE", d.cseq),
		"Contact: <sip:presence_gw@" + c.local + ";transport=tcp>",
		"Event: presence",
		"Accept: application/pidf+xml",
		fmt.Sprintf("Expires: %d", expires),
	}
	for _, r := range d.route {
		h = append(h, "Route: "+r)
	}
	return c.request("SUBSCRIBE", d.target, h, "")
}

// request frames a request with Via, Max-Forwards and Content-Length.
func (c *conn) request(method, uri string, headers []string, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, uri)
	fmt.Fprintf(&b, "Via: SIP/2.0/TCP %s;branch=z9hG4bK%s;rport\r\n", c.local, randomToken())
	b.WriteString("Max-Forwards: 70\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

// exchange is what came back for one request.
type exchange struct {
	resp        message   // final response
	notifies    []message // NOTIFYs received meanwhile, each answered 200
	notifyFirst bool      // a NOTIFY arrived before the final response
}

// roundTrip sends req and reads until its final response and n NOTIFYs
// have arrived, answering every NOTIFY with 200.
func (c *conn) roundTrip(t *testing.T, req string, n int) exchange {
	t.Helper()
	if err := c.nc.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c.nc, req); err != nil {
		t.Fatalf("write request: %v", err)
	}
	var ex exchange
	for ex.resp.StartLine == "" || len(ex.notifies) < n {
		m, err := readMessage(c.r)
		if err != nil {
			t.Fatalf("waiting for answer (%d of %d NOTIFYs so far): %v", len(ex.notifies), n, err)
		}
		switch {
		case m.method() == "NOTIFY":
			ex.notifyFirst = ex.notifyFirst || ex.resp.StartLine == ""
			ex.notifies = append(ex.notifies, m)
			c.answer(t, m, 200, "OK")
		case m.isResponse() && m.status() >= 200:
			ex.resp = m
		case m.isResponse():
			// provisional: keep waiting
		default:
			t.Fatalf("unexpected request %q", m.StartLine)
		}
	}
	return ex
}

// answer sends a response to req, copying the headers RFC 3261 8.2.6.2
// requires.
func (c *conn) answer(t *testing.T, req message, code int, reason string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, v := range req.Header.Values("Via") {
		b.WriteString("Via: " + v + "\r\n")
	}
	for _, h := range []string{"From", "To", "Call-Id", "CSeq"} {
		b.WriteString(h + ": " + req.Header.Get(h) + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	if _, err := io.WriteString(c.nc, b.String()); err != nil {
		t.Fatalf("answer %s: %v", req.StartLine, err)
	}
}

func TestParseWatchers(t *testing.T) {
	table := "id(int,auto) presentity_uri(string) watcher_username(string) watcher_domain(string) event(string) contact(string)\n" +
		`2:sip\:carol@example.com:presence_b:example.com:presence:sip\:presence_b@127.0.0.1\:38736;transport=tcp` + "\n" +
		`1:sip\:bob@example.com:presence_a:example.com:presence:sip\:x@127.0.0.1` + "\n"
	got, err := parseWatchers(table)
	if err != nil {
		t.Fatal(err)
	}
	want := []Watcher{
		{Presentity: "sip:carol@example.com", User: "presence_b", Domain: "example.com", Event: "presence"},
		{Presentity: "sip:bob@example.com", User: "presence_a", Domain: "example.com", Event: "presence"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseWatchers (-want +got):\n%s", diff)
	}
	if _, err := parseWatchers("id(int) name(string)\n1:x\n"); err == nil {
		t.Error("a table without the watcher columns parsed")
	}
}
