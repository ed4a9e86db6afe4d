package prosodytest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/xmpp/xmpptestclient"
)

// ioTimeout bounds every dial, read and write of the tests.
const ioTimeout = 10 * time.Second

// TestMain fails the package if a test leaves a goroutine running (the
// client's stream reader, the harness's process waiter).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestProsody starts one privileged Prosody for the package and runs, in
// order: user login and presence over STARTTLS, an account added while
// running, the XEP-0114 handshake with a wrong and the right secret, the
// XEP-0356 advertisement and presence forwarding, and Restart keeping
// accounts.
func TestProsody(t *testing.T) {
	begin := time.Now()
	srv := Start(t, Options{Privileged: true, Users: map[string]string{"alice": "alice-secret"}})
	t.Logf("Start: %v (dir %s)", time.Since(begin).Round(time.Millisecond), srv.Dir())
	aliceJID := "alice@" + srv.Domain() + "/desk"
	var alice *xmpptestclient.Client
	parent := t

	t.Run("user presence", func(t *testing.T) {
		begin := time.Now()
		var err error
		if alice, err = dialUser(srv, aliceJID, "alice-secret"); err != nil {
			t.Fatalf("%v\n--- prosody log ---\n%s", err, srv.LogTail(20))
		}
		t.Logf("login: %v, bound %s", time.Since(begin).Round(time.Millisecond), alice.JID())
		// alice stays online for the component subtests.
		parent.Cleanup(func() { alice.Close() })
		if st := alice.ConnectionState(); !st.HandshakeComplete || st.Version < tls.VersionTLS12 {
			t.Fatalf("session not over TLS 1.2+: handshake complete %v, version %#x", st.HandshakeComplete, st.Version)
		}
		if err := alice.SendPresence("away", "in a meeting", 5); err != nil {
			t.Fatal(err)
		}
		// Prosody echoes a broadcast presence to the sender's own session.
		want := xmpptestclient.Presence{From: aliceJID, Show: "away", Status: "in a meeting", Priority: 5}
		if diff := cmp.Diff(want, nextPresence(t, alice)); diff != "" {
			t.Fatalf("echoed presence (-want +got):\n%s", diff)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		c, err := dialUser(srv, aliceJID, "wrong")
		if err == nil {
			c.Close()
			t.Fatal("login with a wrong password succeeded")
		}
		t.Logf("refused as expected: %v", err)
	})

	t.Run("user added while running", func(t *testing.T) {
		srv.AddUser(t, "bob", `b"o\b ünicode`)
		bob := login(t, srv, "bob@"+srv.Domain()+"/phone", `b"o\b ünicode`)
		if err := bob.Close(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("component handshake", func(t *testing.T) {
		tests := []struct {
			name    string
			secret  string
			wantErr string
		}{
			{name: "wrong secret", secret: "not-" + srv.Secret(), wantErr: "not-authorized"},
			{name: "right secret", secret: srv.Secret()},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, err := dialComponent(srv.ComponentAddr(), srv.Component(), tt.secret)
				if err == nil {
					c.conn.Close()
				}
				if diff := cmp.Diff(tt.wantErr, errText(err)); diff != "" {
					t.Fatalf("handshake error (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("privileged component", func(t *testing.T) {
		c, err := dialComponent(srv.ComponentAddr(), srv.Component(), srv.Secret())
		if err != nil {
			t.Fatal(err)
		}
		defer c.conn.Close()
		priv := &privilege{Perms: []perm{
			{Access: "roster", Type: "both"},
			{Access: "message", Type: "outgoing"},
			{Access: "presence", Type: "roster"},
		}}
		want := []received{
			{Name: "message", From: srv.Domain(), To: srv.Component(), Privilege: priv},
			{Name: "presence", From: aliceJID, To: srv.Component(), Show: "away", Status: "in a meeting"},
		}
		got := []received{c.next(t), c.next(t)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("after handshake (-want +got):\n%s", diff)
		}
		if err := alice.SendPresence("dnd", "", 0); err != nil {
			t.Fatal(err)
		}
		wantNext := received{Name: "presence", From: aliceJID, To: srv.Component(), Show: "dnd"}
		if diff := cmp.Diff(wantNext, c.next(t)); diff != "" {
			t.Fatalf("presence change (-want +got):\n%s", diff)
		}
		if err := alice.Unavailable(); err != nil {
			t.Fatal(err)
		}
		wantOff := received{Name: "presence", From: aliceJID, To: srv.Component(), Type: "unavailable"}
		if diff := cmp.Diff(wantOff, c.next(t)); diff != "" {
			t.Fatalf("unavailable (-want +got):\n%s", diff)
		}
	})

	t.Run("subscription and roster", func(t *testing.T) {
		bobJID := "bob@" + srv.Domain() + "/phone"
		bob := login(t, srv, bobJID, `b"o\b ünicode`)
		if err := bob.SendPresence("chat", "", 1); err != nil {
			t.Fatal(err)
		}
		// alice went unavailable above; only an available session gets
		// the contact's presence once the subscription is approved.
		if err := alice.SendPresence("", "", 0); err != nil {
			t.Fatal(err)
		}
		if err := alice.Subscribe("bob@" + srv.Domain()); err != nil {
			t.Fatal(err)
		}
		// bob's client approves at once; alice then gets bob's presence.
		want := xmpptestclient.Presence{From: bobJID, Show: "chat", Priority: 1}
		if diff := cmp.Diff(want, presenceFrom(t, alice, bobJID)); diff != "" {
			t.Fatalf("bob's presence at alice (-want +got):\n%s", diff)
		}
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		items, err := alice.Roster(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantRoster := []xmpptestclient.RosterItem{{JID: "bob@" + srv.Domain(), Subscription: "to"}}
		if diff := cmp.Diff(wantRoster, items); diff != "" {
			t.Fatalf("alice's roster (-want +got):\n%s", diff)
		}
	})

	t.Run("restart keeps accounts", func(t *testing.T) {
		if err := alice.Close(); err != nil {
			t.Logf("alice close: %v", err)
		}
		begin := time.Now()
		srv.Restart(t)
		t.Logf("Restart: %v", time.Since(begin).Round(time.Millisecond))
		for user, password := range map[string]string{"alice": "alice-secret", "bob": `b"o\b ünicode`} {
			c := login(t, srv, user+"@"+srv.Domain()+"/again", password)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("stop is idempotent", func(t *testing.T) {
		srv.Stop()
		srv.Stop()
		if _, err := net.DialTimeout("tcp", srv.C2SAddr(), time.Second); err == nil {
			t.Fatalf("c2s port %s still accepts after Stop", srv.C2SAddr())
		}
	})
}

// TestAccountFile pins the on-disk account layout to the one Prosody
// 0.12's prosodyctl writes (checked byte for byte with
// `prosodyctl register Alice.B example.com 'pa"ss\wörd'`).
func TestAccountFile(t *testing.T) {
	dir := t.TempDir()
	if err := writeAccount(dir, "example.com", "alice.b", `pa"ss\wörd`); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(dir + "/example%2ecom/accounts/alice%2eb.dat")
	if err != nil {
		t.Fatal(err)
	}
	want := "return {\n\t[\"password\"] = \"pa\\\"ss\\\\w\\195\\182rd\";\n};\n"
	if diff := cmp.Diff(want, string(data)); diff != "" {
		t.Fatalf("account file (-want +got):\n%s", diff)
	}
}

// dialUser logs in as user with the server's certificate as the only root.
func dialUser(srv *Server, user, password string) (*xmpptestclient.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	cfg := &tls.Config{RootCAs: srv.CAPool(), ServerName: srv.Domain(), MinVersion: tls.VersionTLS12}
	return xmpptestclient.Dial(ctx, srv.C2SAddr(), user, password, cfg)
}

// login is dialUser that fails the test on error and closes the client at
// the end of the test.
func login(t *testing.T, srv *Server, user, password string) *xmpptestclient.Client {
	t.Helper()
	c, err := dialUser(srv, user, password)
	if err != nil {
		t.Fatalf("%v\n--- prosody log ---\n%s", err, srv.LogTail(20))
	}
	t.Cleanup(func() { c.Close() })
	if c.JID() != user {
		t.Fatalf("bound JID %q, want %q", c.JID(), user)
	}
	return c
}

// nextPresence returns the next presence c receives.
func nextPresence(t *testing.T, c *xmpptestclient.Client) xmpptestclient.Presence {
	t.Helper()
	select {
	case p, ok := <-c.Presences():
		if !ok {
			t.Fatal("stream ended before a presence arrived")
		}
		return p
	case <-time.After(ioTimeout):
		t.Fatalf("no presence within %v", ioTimeout)
	}
	return xmpptestclient.Presence{}
}

// presenceFrom returns the next available presence c receives from the
// full JID from, skipping (and logging) others, such as the error bounces
// of presence forwarded to a disconnected privileged component.
func presenceFrom(t *testing.T, c *xmpptestclient.Client, from string) xmpptestclient.Presence {
	t.Helper()
	for {
		p := nextPresence(t, c)
		if p.From == from && p.Type == "" {
			return p
		}
		t.Logf("skipped presence %+v", p)
	}
}

// errText returns err's text, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// component is a raw XEP-0114 component connection.
type component struct {
	conn       net.Conn
	dec        *xml.Decoder
	transcript bytes.Buffer // everything read, for failure messages
}

// dialComponent connects as component name and performs the XEP-0114
// handshake: <handshake> carries the lower-case hex SHA-1 of the stream id
// the server sent followed by the secret. A refused handshake returns the
// stream error condition (e.g. "not-authorized") as the error text.
func dialComponent(addr, name, secret string) (*component, error) {
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return nil, err
	}
	c := &component{conn: conn}
	c.dec = xml.NewDecoder(io.TeeReader(conn, &c.transcript))
	conn.SetDeadline(time.Now().Add(ioTimeout))
	fmt.Fprintf(conn, "<stream:stream xmlns='jabber:component:accept' xmlns:stream='%s' to='%s'>", nsStream, name)
	start, err := c.nextStart()
	if err != nil || start.Name.Local != "stream" {
		conn.Close()
		return nil, fmt.Errorf("stream header: %v %v", start.Name, err)
	}
	var id string
	for _, a := range start.Attr {
		if a.Name.Local == "id" {
			id = a.Value
		}
	}
	sum := sha1.Sum([]byte(id + secret))
	fmt.Fprintf(conn, "<handshake>%s</handshake>", hex.EncodeToString(sum[:]))
	if start, err = c.nextStart(); err == nil && start.Name.Local == "error" {
		cond, _ := c.nextStart() // the first child names the condition
		err = errors.New(cond.Name.Local)
	} else if err == nil && start.Name.Local != "handshake" {
		err = fmt.Errorf("unexpected <%s> after handshake", start.Name.Local)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := c.dec.Skip(); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// nextStart returns the next start element of the stream.
func (c *component) nextStart() (xml.StartElement, error) {
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		if start, ok := tok.(xml.StartElement); ok {
			return start, nil
		}
	}
}

// received is what the tests compare of a stanza the component receives.
type received struct {
	Name      string     `xml:"-"`
	From      string     `xml:"from,attr"`
	To        string     `xml:"to,attr"`
	Type      string     `xml:"type,attr"`
	Show      string     `xml:"show"`
	Status    string     `xml:"status"`
	Privilege *privilege `xml:"urn:xmpp:privilege:2 privilege"`
}

// privilege is the XEP-0356 advertisement.
type privilege struct {
	Perms []perm `xml:"perm"`
}

// perm is one granted access of a privilege advertisement.
type perm struct {
	Access string `xml:"access,attr"`
	Type   string `xml:"type,attr"`
}

// next decodes the next stanza the component receives.
func (c *component) next(t *testing.T) received {
	t.Helper()
	c.conn.SetDeadline(time.Now().Add(ioTimeout))
	start, err := c.nextStart()
	if errors.Is(err, io.EOF) {
		t.Fatal("component stream ended")
	}
	if err != nil {
		t.Fatalf("component read: %v\n--- received so far ---\n%s", err, c.transcript.String())
	}
	var r received
	if err := c.dec.DecodeElement(&r, &start); err != nil {
		t.Fatalf("decode <%s>: %v", start.Name.Local, err)
	}
	r.Name = start.Name.Local
	return r
}

// TestRegisterUser creates an account with prosodyctl while Prosody runs
// and logs in with it.
func TestRegisterUser(t *testing.T) {
	srv := Start(t, Options{})
	srv.RegisterUser(t, "dora", "dora-pw")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := xmpptestclient.Dial(ctx, srv.C2SAddr(), "dora@example.com/desk", "dora-pw", &tls.Config{RootCAs: srv.CAPool(), ServerName: "example.com"})
	if err != nil {
		t.Fatalf("login with a prosodyctl-made account: %v\n%s", err, srv.LogTail(20))
	}
	c.Close()
}
