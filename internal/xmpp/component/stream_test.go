package component

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReaderElements(t *testing.T) {
	in := "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='presence.example.com'>" +
		"<handshake/> \n" +
		"<presence from='a@example.com/x'><show>away</show><x xmlns='vcard-temp:x:update'><photo/></x></presence>" +
		"<presence xmlns='jabber:component:accept' type='unavailable'/>" +
		"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>replaced</text></stream:error>" +
		"</stream:stream>"
	r := newReader(strings.NewReader(in))
	id, err := r.header()
	if err != nil || id != "abc" {
		t.Fatalf("header() = %q, %v", id, err)
	}
	var got []string
	for {
		e, err := r.next()
		if errors.Is(err, errStreamClosed) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(e.raw))
		if isStreamError(e) {
			got = append(got, parseStreamError(e).Error())
		}
	}
	want := []string{
		"<handshake/>",
		"<presence xmlns='jabber:component:accept' from='a@example.com/x'><show>away</show><x xmlns='vcard-temp:x:update'><photo/></x></presence>",
		"<presence xmlns='jabber:component:accept' type='unavailable'/>",
		"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>replaced</text></stream:error>",
		`conflict (another connection already serves this component address?): server says "replaced"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("elements (-want +got):\n%s", diff)
	}
}

func TestReaderLimits(t *testing.T) {
	head := "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='x'>"
	tests := []struct {
		name string
		body string
		want error
	}{
		{"oversized presence", "<presence><status>" + strings.Repeat("a", MaxStanzaSize) + "</status></presence>", ErrStanzaTooLarge},
		{"connection closed mid-stanza", "<presence><sta", errConnClosed},
		{"stream end", "</stream:stream>", errStreamClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReader(strings.NewReader(head + tt.body))
			if _, err := r.header(); err != nil {
				t.Fatal(err)
			}
			_, err := r.next()
			if !errors.Is(err, tt.want) {
				t.Errorf("next() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckStanza(t *testing.T) {
	tests := []struct {
		in   string
		want bool // valid
	}{
		{"<presence type='probe' to='a@example.com'/>", true},
		{" <iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>\n", true},
		{"<presence><x></presence>", false},
		{"<presence/><presence/>", false},
		{"text<presence/>", false},
		{"<presence>", false},
		{"", false},
		{"<?xml version='1.0'?><presence/>", false},
		{"<presence><status>" + strings.Repeat("a", MaxStanzaSize) + "</status></presence>", false},
	}
	for _, tt := range tests {
		err := checkStanza([]byte(tt.in))
		if got := err == nil; got != tt.want {
			t.Errorf("checkStanza(%.40q) = %v, want valid %v", tt.in, err, tt.want)
		}
	}
}

func TestAdvertisement(t *testing.T) {
	msg := func(from, ns, perms string) element {
		r := newReader(strings.NewReader("<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'>" +
			"<message from='" + from + "' to='presence.example.com'><privilege xmlns='" + ns + "'>" + perms + "</privilege></message>"))
		if _, err := r.header(); err != nil {
			t.Fatal(err)
		}
		e, err := r.next()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	tests := []struct {
		name    string
		e       element
		ok      bool
		perms   map[string]string
		wantErr string
	}{
		{"v1 roster presence", msg("example.com", nsPriv1, "<perm access='roster' type='both'/><perm access='presence' type='roster'/>"),
			true, map[string]string{"roster": "both", "presence": "roster"}, ""},
		{"v2 managed_entity", msg("example.com", nsPriv2, "<perm access='presence' type='managed_entity'/>"),
			true, map[string]string{"presence": "managed_entity"}, ""},
		{"no presence", msg("example.com", nsPriv2, "<perm access='roster' type='get'/><perm access='message' type='outgoing'/>"),
			true, map[string]string{"roster": "get", "message": "outgoing"},
			"privileges from example.com lack presence permission managed_entity or roster (granted: message=outgoing, roster=get)"},
		{"from someone else", msg("mallory@example.com", nsPriv2, "<perm access='presence' type='managed_entity'/>"), false, nil, ""},
		{"other namespace", msg("example.com", "urn:example:privilege", "<perm access='presence' type='roster'/>"), false, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := parseAdvertisement(tt.e, "example.com")
			if ok != tt.ok {
				t.Fatalf("parseAdvertisement ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if diff := cmp.Diff(tt.perms, a.perms); diff != "" {
				t.Errorf("perms (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantErr, errText(a.check("example.com"))); diff != "" {
				t.Errorf("check (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKeepAliveTimeout runs a fake server that completes the handshake,
// grants privileges and never answers pings: the Conn must drop the
// connection and connect again.
func TestKeepAliveTimeout(t *testing.T) {
	p := fakePeer(t, advertV2)
	r := start(t, p, Config{KeepAlive: 50 * time.Millisecond, RetryBase: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	r.privileged(t)
	down, _ := r.waitState(t, "dropped", func(s State) bool { return !s.Connected })
	if !errors.Is(down.Err, errPingTimeout) {
		t.Errorf("dropped with %v, want %v", down.Err, errPingTimeout)
	}
	r.privileged(t)
}

// TestNoAdvertisement: a server that never advertises privileges leaves
// the Conn connected but unhealthy, saying so.
func TestNoAdvertisement(t *testing.T) {
	p := fakePeer(t, "")
	r := start(t, p, Config{PrivilegeWait: 50 * time.Millisecond, KeepAlive: -1})
	const want = "no privilege advertisement from example.com within 50ms (is mod_privilege enabled for presence.example.com?)"
	got, _ := r.waitState(t, "no advertisement", func(s State) bool { return s.Err != nil && strings.HasPrefix(s.Err.Error(), "no privilege") })
	if diff := cmp.Diff(want, errText(got.Err)); diff != "" {
		t.Errorf("state error (-want +got):\n%s", diff)
	}
	if !got.Connected || got.Privileged {
		t.Errorf("state %+v, want connected and not privileged", got)
	}
	if diff := cmp.Diff(want, errText(r.Health())); diff != "" {
		t.Errorf("Health (-want +got):\n%s", diff)
	}
}

// TestNoAdvertisementReconnects: a connection that stays without
// privileges is dropped and made again, and privileges advertised on the
// new one count.
func TestNoAdvertisementReconnects(t *testing.T) {
	p := fakePeerSeq(t, func(n int) string {
		if n == 1 {
			return "" // a server that missed the advertisement
		}
		return advertV2
	})
	r := start(t, p, Config{PrivilegeWait: 50 * time.Millisecond, KeepAlive: -1, RetryBase: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	down, _ := r.waitState(t, "dropped without privileges", func(s State) bool { return !s.Connected })
	if down.Err == nil || !strings.Contains(down.Err.Error(), "no privilege advertisement") {
		t.Errorf("dropped with %v, want the missing advertisement", down.Err)
	}
	r.privileged(t)
}

const advertV2 = "<message from='example.com' to='presence.example.com'><privilege xmlns='urn:xmpp:privilege:2'><perm access='presence' type='managed_entity'/></privilege></message>"

// fakePeer listens on loopback and serves each connection with
// silentServer sending advert after the handshake.
func fakePeer(t *testing.T, advert string) peer {
	t.Helper()
	return fakePeerSeq(t, func(int) string { return advert })
}

// fakePeerSeq is fakePeer sending advert(n) on the n-th connection (from
// 1).
func fakePeerSeq(t *testing.T, advert func(n int) string) peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		for n := 1; ; n++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			silentServer(conn, advert(n))
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-served
	})
	return peer{server: fakeServer{addr: ln.Addr().String()}}
}

// silentServer serves one component connection: it accepts any
// handshake, sends advert and then reads without answering until the
// client goes away.
func silentServer(conn net.Conn, advert string) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	if _, err := br.ReadString('>'); err != nil { // the client's stream header (after <?xml ...?>)
		return
	}
	if _, err := br.ReadString('>'); err != nil {
		return
	}
	fmt.Fprintf(conn, "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='presence.example.com'>")
	if _, err := br.ReadString('>'); err != nil { // <handshake>
		return
	}
	if _, err := br.ReadString('>'); err != nil { // </handshake>
		return
	}
	fmt.Fprint(conn, "<handshake/>"+advert)
	_, _ = io.Copy(io.Discard, br)
}

// fakeServer is a server for tests that need only addresses.
type fakeServer struct{ addr string }

func (f fakeServer) C2SAddr() string                    { return "" }
func (f fakeServer) ComponentAddr() string              { return f.addr }
func (f fakeServer) Domain() string                     { return "example.com" }
func (f fakeServer) Component() string                  { return "presence.example.com" }
func (f fakeServer) Secret() string                     { return "secret" }
func (f fakeServer) AddUser(testing.TB, string, string) {}
func (f fakeServer) Restart(testing.TB)                 {}
func (f fakeServer) LogTail(int) string                 { return "" }

// FuzzReader feeds arbitrary bytes after a stream header: the reader never
// panics, every element it returns is bounded, and a non-presence
// element's bytes are part of the input (a presence may gain its
// namespace declaration).
func FuzzReader(f *testing.F) {
	f.Add("<presence from='a@example.com/x'><show>dnd</show></presence>")
	f.Add("<message from='example.com'><privilege xmlns='urn:xmpp:privilege:2'><perm access='presence' type='roster'/></privilege></message>")
	f.Add("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq> </stream:stream>")
	f.Add("<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
	f.Add("<presence><status>&amp;&lt;</status></presence><presence/>")
	const head = "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='x'>"
	f.Fuzz(func(t *testing.T, body string) {
		r := newReader(strings.NewReader(head + body))
		if _, err := r.header(); err != nil {
			t.Fatalf("header: %v", err)
		}
		for range 1000 {
			e, err := r.next()
			if err != nil {
				return
			}
			if len(e.raw) > MaxStanzaSize+64 {
				t.Fatalf("element of %d bytes", len(e.raw))
			}
			if e.name.Local != "presence" && !strings.Contains(body, string(e.raw)) {
				t.Fatalf("element %q is not part of the input", e.raw)
			}
		}
	})
}
