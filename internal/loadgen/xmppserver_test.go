package loadgen

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeComponent plays presenced's XMPP backend in component mode against
// an xmppServer: one TCP connection, its own stanzas written raw, the
// server's read back with encoding/xml.
type fakeComponent struct {
	t    *testing.T
	conn net.Conn
	dec  *xml.Decoder
}

func dialFakeComponent(t *testing.T, addr string) *fakeComponent {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &fakeComponent{t: t, conn: conn, dec: xml.NewDecoder(conn)}
}

func (f *fakeComponent) send(raw string) {
	f.t.Helper()
	if _, err := f.conn.Write([]byte(raw)); err != nil {
		f.t.Fatal(err)
	}
}

// token returns the next token of the server's stream, failing after 10 s.
func (f *fakeComponent) token() (xml.Token, error) {
	_ = f.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	return f.dec.Token()
}

// open sends the component's stream header for component to and returns
// the id of the server's answer.
func (f *fakeComponent) open(to string) string {
	f.t.Helper()
	f.send("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='" + to + "'>")
	for {
		tok, err := f.token()
		if err != nil {
			f.t.Fatalf("reading the server's stream header: %v", err)
		}
		if st, ok := tok.(xml.StartElement); ok {
			if st.Name != (xml.Name{Space: nsXMPPStreams, Local: "stream"}) || defaultNamespace(st) != nsComponentAccept {
				f.t.Fatalf("server's stream header is <%s xmlns=%q>", st.Name.Local, defaultNamespace(st))
			}
			if got := attr(st, "from"); got != to {
				f.t.Errorf("server's stream header from=%q, want %q", got, to)
			}
			id := attr(st, "id")
			if id == "" {
				f.t.Fatal("server's stream header has no id")
			}
			return id
		}
	}
}

// handshake sends hex(sha1(id+secret)).
func (f *fakeComponent) handshake(id, secret string) {
	sum := sha1.Sum([]byte(id + secret))
	f.send("<handshake>" + hex.EncodeToString(sum[:]) + "</handshake>")
}

// next decodes the server's next top-level element into v and returns
// its name; io.EOF when the server ended its stream.
func (f *fakeComponent) next(v any) (xml.Name, error) {
	for {
		tok, err := f.token()
		if err != nil {
			return xml.Name{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t.Name, f.dec.DecodeElement(v, &t)
		case xml.EndElement:
			return xml.Name{}, io.EOF
		}
	}
}

// mustNext is next that fails the test on an error.
func (f *fakeComponent) mustNext(v any) xml.Name {
	f.t.Helper()
	name, err := f.next(v)
	if err != nil {
		f.t.Fatalf("reading the server's next element: %v", err)
	}
	return name
}

// element is any element, for the test to look into.
type element struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Inner   string     `xml:",innerxml"`
}

// privilege is the XEP-0356 advertisement as the test reads it.
type privilege struct {
	From  string `xml:"from,attr"`
	To    string `xml:"to,attr"`
	Perms []struct {
		Access string `xml:"access,attr"`
		Type   string `xml:"type,attr"`
	} `xml:"urn:xmpp:privilege:2 privilege>perm"`
}

// streamError is a stream error's condition elements.
type streamError struct {
	Conditions []struct {
		XMLName xml.Name
	} `xml:",any"`
}

func startXMPP(t *testing.T, warned *warnings) *xmppServer {
	t.Helper()
	srv, err := listenXMPP(xmppOptions{
		Listen: "127.0.0.1:0", Component: "presence.example.com", Secret: "s3cret",
		Domain: "example.com", JIDDomain: "example.com", Run: "run1",
	}, warned.warn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.close)
	return srv
}

// streamCounts are the stream counters of an xmppServer.
type streamCounts struct {
	Connections, Authenticated, Refused, BadHandshake, Lost int64
}

func streamCountsOf(s *xmppServer) streamCounts {
	c := &s.counts
	return streamCounts{c.connections.Load(), c.authenticated.Load(), c.refused.Load(), c.badHandshake.Load(), c.lost.Load()}
}

// authenticate opens and authenticates a stream and reads the privilege
// advertisement.
func authenticate(t *testing.T, srv *xmppServer) *fakeComponent {
	t.Helper()
	f := dialFakeComponent(t, srv.addr())
	f.handshake(f.open("presence.example.com"), "s3cret")
	var e element
	if name := f.mustNext(&e); name.Local != "handshake" || e.Inner != "" {
		t.Fatalf("got <%s>%s, want an empty <handshake/>", name.Local, e.Inner)
	}
	var adv privilege
	if name := f.mustNext(&adv); name != (xml.Name{Space: nsComponentAccept, Local: "message"}) {
		t.Fatalf("got %v after the handshake, want the privilege message", name)
	}
	waitFor(t, "the session", func() bool { return srv.session() != nil })
	return f
}

// TestXMPPServerHandshake opens component streams with right and wrong
// handshakes and component names.
func TestXMPPServerHandshake(t *testing.T) {
	tests := []struct {
		name      string
		to        string
		handshake func(id string) string // the <handshake/> content; nil: none sent (refused before)
		wantError string                 // stream error condition; "" for success
		want      streamCounts
	}{
		{"right secret", "presence.example.com", func(id string) string { return sha1Hex(id + "s3cret") }, "",
			streamCounts{Connections: 1, Authenticated: 1}},
		{"upper-case hex", "presence.example.com", func(id string) string { return strings.ToUpper(sha1Hex(id + "s3cret")) }, "",
			streamCounts{Connections: 1, Authenticated: 1}},
		{"wrong secret", "presence.example.com", func(id string) string { return sha1Hex(id + "guess") }, "not-authorized",
			streamCounts{Connections: 1, Refused: 1, BadHandshake: 1}},
		{"secret without the id", "presence.example.com", func(string) string { return sha1Hex("s3cret") }, "not-authorized",
			streamCounts{Connections: 1, Refused: 1, BadHandshake: 1}},
		{"other component", "other.example.com", nil, "host-unknown",
			streamCounts{Connections: 1, Refused: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var warned warnings
			srv := startXMPP(t, &warned)
			f := dialFakeComponent(t, srv.addr())
			f.send("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='" + tt.to + "'>")
			id := readHeaderID(t, f)
			if tt.handshake != nil {
				f.send("<handshake>" + tt.handshake(id) + "</handshake>")
			}
			if tt.wantError == "" {
				var hs element
				if name := f.mustNext(&hs); name.Local != "handshake" || hs.Inner != "" {
					t.Fatalf("got <%s>%s, want <handshake/>", name.Local, hs.Inner)
				}
				var adv privilege
				f.mustNext(&adv)
				want := privilege{From: "example.com", To: "presence.example.com"}
				for _, p := range [][2]string{{"roster", "both"}, {"message", "outgoing"}, {"presence", "roster"}} {
					want.Perms = append(want.Perms, struct {
						Access string `xml:"access,attr"`
						Type   string `xml:"type,attr"`
					}{p[0], p[1]})
				}
				if diff := cmp.Diff(want, adv); diff != "" {
					t.Errorf("privilege advertisement (-want +got):\n%s", diff)
				}
				waitFor(t, "the session", func() bool { return srv.session() != nil })
			} else {
				var se streamError
				name := f.mustNext(&se)
				if name != (xml.Name{Space: nsXMPPStreams, Local: "error"}) {
					t.Fatalf("got %v, want a stream error", name)
				}
				want := []xml.Name{{Space: nsStreamErrors, Local: tt.wantError}}
				var got []xml.Name
				for _, c := range se.Conditions {
					got = append(got, c.XMLName)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("stream error conditions (-want +got):\n%s", diff)
				}
				if _, err := f.next(&element{}); !errors.Is(err, io.EOF) {
					t.Errorf("after the stream error: %v, want the stream's end", err)
				}
				if srv.session() != nil {
					t.Error("a refused stream became the session")
				}
			}
			waitFor(t, "the counters", func() bool { return streamCountsOf(srv) == tt.want })
		})
	}
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// readHeaderID reads the server's stream header and returns its id.
func readHeaderID(t *testing.T, f *fakeComponent) string {
	t.Helper()
	for {
		tok, err := f.token()
		if err != nil {
			t.Fatalf("reading the stream header: %v", err)
		}
		if st, ok := tok.(xml.StartElement); ok {
			return attr(st, "id")
		}
	}
}

// iqSeen is what the test checks of an answer to an IQ.
type iqSeen struct {
	Type, ID, From, To string
	Condition          string // the stanza error condition, if any
}

// TestXMPPServerIQ sends the server pings and other IQs and checks the
// answers.
func TestXMPPServerIQ(t *testing.T) {
	var warned warnings
	srv := startXMPP(t, &warned)
	f := authenticate(t, srv)
	tests := []struct {
		name string
		send string
		want iqSeen
	}{
		{"ping", "<iq type='get' id='ka1' from='presence.example.com' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>",
			iqSeen{Type: "result", ID: "ka1", From: "example.com", To: "presence.example.com"}},
		{"ping without to", "<iq type='get' id='ka2' from='presence.example.com'><ping xmlns='urn:xmpp:ping'/></iq>",
			iqSeen{Type: "result", ID: "ka2", From: "example.com", To: "presence.example.com"}},
		{"ping with quote in id", `<iq type='get' id="a'b" from='presence.example.com' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>`,
			iqSeen{Type: "result", ID: "a'b", From: "example.com", To: "presence.example.com"}},
		{"roster get", "<iq type='get' id='r1' from='presence.example.com' to='u@example.com'><query xmlns='jabber:iq:roster'/></iq>",
			iqSeen{Type: "error", ID: "r1", From: "u@example.com", To: "presence.example.com", Condition: "service-unavailable"}},
		// A result answers nothing and gets no answer: the next answer
		// is the ping's that follows it.
		{"result then ping", "<iq type='result' id='x1' from='presence.example.com' to='example.com'/>" +
			"<presence from='presence.example.com' to='u@example.com' type='probe'/>" +
			"<iq type='get' id='ka3' from='presence.example.com' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>",
			iqSeen{Type: "result", ID: "ka3", From: "example.com", To: "presence.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.send(tt.send)
			var iq struct {
				Type  string `xml:"type,attr"`
				ID    string `xml:"id,attr"`
				From  string `xml:"from,attr"`
				To    string `xml:"to,attr"`
				Error struct {
					Conditions []struct {
						XMLName xml.Name
					} `xml:",any"`
				} `xml:"error"`
			}
			if name := f.mustNext(&iq); name != (xml.Name{Space: nsComponentAccept, Local: "iq"}) {
				t.Fatalf("got %v, want an iq", name)
			}
			got := iqSeen{Type: iq.Type, ID: iq.ID, From: iq.From, To: iq.To}
			for _, c := range iq.Error.Conditions {
				if c.XMLName.Space == nsStanzaErrors {
					got.Condition = c.XMLName.Local
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
	c := &srv.counts
	got := map[string]uint64{"ping": c.pings.Load(), "iq_result": c.iqResults.Load(), "iq_refused": c.iqRefused.Load(), "presence": c.presences.Load()}
	if diff := cmp.Diff(map[string]uint64{"ping": 4, "iq_result": 1, "iq_refused": 1, "presence": 1}, got); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
}

// presenceSeen is what the test checks of a presence stanza.
type presenceSeen struct {
	From, To, Type, Show string
	Priority             int
	Note                 bool // the status is "run1:<unix nanos>"
}

// TestXMPPServerPresences sends presences round-robin over three
// contacts to a component and parses them back.
func TestXMPPServerPresences(t *testing.T) {
	var warned warnings
	srv := startXMPP(t, &warned)
	f := authenticate(t, srv)

	before := time.Now().UnixNano()
	srv.measuring.Store(true)
	if n := srv.sendPresences(t.Context(), 3, 7, 0); n != 7 {
		t.Fatalf("sendPresences sent %d, want 7", n)
	}
	srv.measuring.Store(false)
	if n := srv.sendPresences(t.Context(), 3, 2, 1e6); n != 2 { // rate-limited, and it goes on round-robin
		t.Fatalf("sendPresences sent %d, want 2", n)
	}
	after := time.Now().UnixNano()

	var got []presenceSeen
	for range 9 {
		var p struct {
			From     string `xml:"from,attr"`
			To       string `xml:"to,attr"`
			Type     string `xml:"type,attr"`
			Show     string `xml:"show"`
			Status   string `xml:"status"`
			Priority int    `xml:"priority"`
		}
		if name := f.mustNext(&p); name != (xml.Name{Space: nsComponentAccept, Local: "presence"}) {
			t.Fatalf("got %v, want a presence", name)
		}
		note := false
		if ns, ok := strings.CutPrefix(p.Status, "run1:"); ok {
			t, err := strconv.ParseInt(ns, 10, 64)
			note = err == nil && before <= t && t <= after
		}
		got = append(got, presenceSeen{From: p.From, To: p.To, Type: p.Type, Show: p.Show, Priority: p.Priority, Note: note})
	}
	seen := func(k int, show string) presenceSeen {
		return presenceSeen{From: "contact-" + strconv.Itoa(k) + "@example.com/bench", To: "presence.example.com", Show: show, Priority: 5, Note: true}
	}
	want := []presenceSeen{
		seen(1, ""), seen(2, ""), seen(3, ""),
		seen(1, "dnd"), seen(2, "dnd"), seen(3, "dnd"),
		seen(1, "away"), seen(2, "away"), seen(3, "away"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("presences (-want +got):\n%s", diff)
	}
	if got, want := [2]uint64{srv.counts.sent.Load(), srv.counts.sentTotal.Load()}, [2]uint64{7, 9}; got != want {
		t.Errorf("sent, sent in total = %v, want %v", got, want)
	}
}

// TestXMPPServerLost checks that a component stream that ends during the
// run is counted and warned about, and that sendPresences then waits for
// the next one.
func TestXMPPServerLost(t *testing.T) {
	var warned warnings
	srv := startXMPP(t, &warned)
	f := authenticate(t, srv)
	f.send("</stream:stream>")
	waitFor(t, "the loss", func() bool { return srv.session() == nil && srv.counts.lost.Load() == 1 })
	warned.mu.Lock()
	got := warned.list
	warned.mu.Unlock()
	want := []string{"the XMPP component connection from " + f.conn.LocalAddr().String() + " was lost: the component closed its stream"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan uint64)
	go func() { done <- srv.sendPresences(ctx, 2, 1, 0) }()
	g := authenticate(t, srv) // the next stream gets the presence
	var p struct {
		From string `xml:"from,attr"`
	}
	g.mustNext(&p)
	if p.From != "contact-1@example.com/bench" {
		t.Errorf("presence from %q, want contact-1@example.com/bench", p.From)
	}
	cancel()
	if n := <-done; n != 1 {
		t.Errorf("sendPresences sent %d, want 1", n)
	}
}
