// Package xmpptestclient is a small XMPP user client for tests, on
// mellium.im/xmpp: it logs in over STARTTLS, binds a chosen resource, sends
// presence, reports the presence it receives, and approves every
// subscription request. It is not a general client.
package xmpptestclient

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/roster"
	"mellium.im/xmpp/stanza"
)

// ioTimeout bounds each send and the wait for the server to close the
// stream in Close.
const ioTimeout = 10 * time.Second

// presenceBuffer is how many received presences wait for Presences readers
// before the client stops reading the stream.
const presenceBuffer = 64

// Presence is a presence stanza the client received.
type Presence struct {
	From     string // full or bare JID of the sender
	Type     string // "" (available), "unavailable", "subscribe", "error", ...
	Show     string // "", "away", "chat", "dnd" or "xa"
	Status   string
	Priority int
}

// RosterItem is one contact of the user's roster.
type RosterItem struct {
	JID          string
	Name         string
	Subscription string // "none", "to", "from" or "both"
}

// Client is one logged-in user session. Its methods are safe for concurrent
// use.
type Client struct {
	session   *xmpp.Session
	conn      net.Conn
	presences chan Presence
	closing   chan struct{} // closed by Close; unblocks the serve loop
	served    chan struct{} // closed when the serve loop has returned
	closeOnce sync.Once
	serveErr  error // set before served is closed
}

// Dial connects to addr (host:port), negotiates STARTTLS with tlsConfig,
// authenticates as user (a JID "user@domain" or "user@domain/resource")
// with SCRAM-SHA-1 or, failing that, PLAIN, and binds the JID's resource
// (a server-chosen one when it has none). A nil tlsConfig verifies the
// server against the system roots for the JID's domain; tests pass
// RootCAs from the server under test. ctx bounds the whole negotiation.
func Dial(ctx context.Context, addr, user, password string, tlsConfig *tls.Config) (*Client, error) {
	origin, err := jid.Parse(user)
	if err != nil {
		return nil, fmt.Errorf("xmpptestclient: parse jid %q: %w", user, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("xmpptestclient: dial %s: %w", addr, err)
	}
	// The negotiation reads and writes conn directly; closing it is the
	// only way to make ctx interrupt a silent server.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	session, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, 0,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: []xmpp.StreamFeature{
				xmpp.StartTLS(tlsConfig),
				xmpp.SASL("", password, sasl.ScramSha1, sasl.Plain),
				bindResource(origin),
			}}
		}))
	if !stop() || err != nil {
		conn.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("xmpptestclient: log in %s at %s: %w", origin, addr, err)
	}
	c := &Client{
		session:   session,
		conn:      conn,
		presences: make(chan Presence, presenceBuffer),
		closing:   make(chan struct{}),
		served:    make(chan struct{}),
	}
	go c.serve()
	return c, nil
}

// JID returns the full JID the server bound.
func (c *Client) JID() string { return c.session.LocalAddr().String() }

// ConnectionState returns the state of the session's TLS connection.
func (c *Client) ConnectionState() tls.ConnectionState { return c.session.ConnectionState() }

// Presences returns the presences the client receives, in order. The
// channel is closed when the stream ends. A test that receives presence
// must drain it: once presenceBuffer presences wait, the client stops
// reading the stream.
func (c *Client) Presences() <-chan Presence { return c.presences }

// SendPresence broadcasts an available presence with show ("" for plain
// available, or "away", "chat", "dnd", "xa"), a status text ("" for none)
// and priority.
func (c *Client) SendPresence(show, status string, priority int) error {
	switch show {
	case "", "away", "chat", "dnd", "xa":
	default:
		return fmt.Errorf("xmpptestclient: invalid show %q", show)
	}
	var payload []xml.TokenReader
	if show != "" {
		payload = append(payload, textElement("show", show))
	}
	if status != "" {
		payload = append(payload, textElement("status", status))
	}
	payload = append(payload, textElement("priority", strconv.Itoa(priority)))
	p := stanza.Presence{Type: stanza.AvailablePresence}
	return c.send("presence", p.Wrap(xmlstream.MultiReader(payload...)))
}

// Unavailable broadcasts an unavailable presence; the session stays open.
func (c *Client) Unavailable() error {
	return c.send("unavailable presence", stanza.Presence{Type: stanza.UnavailablePresence}.Wrap(nil))
}

// Subscribe asks to see the presence of contact (a bare JID).
func (c *Client) Subscribe(contact string) error {
	to, err := jid.Parse(contact)
	if err != nil {
		return fmt.Errorf("xmpptestclient: parse jid %q: %w", contact, err)
	}
	return c.send("subscribe", stanza.Presence{To: to, Type: stanza.SubscribePresence}.Wrap(nil))
}

// Roster fetches the user's roster. The answer is read by the same loop
// that delivers presence, so a full Presences channel delays it until ctx
// expires.
func (c *Client) Roster(ctx context.Context) ([]RosterItem, error) {
	iter := roster.Fetch(ctx, c.session)
	defer iter.Close()
	var items []RosterItem
	for iter.Next() {
		it := iter.Item()
		items = append(items, RosterItem{JID: it.JID.String(), Name: it.Name, Subscription: it.Subscription})
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("xmpptestclient: fetch roster: %w", err)
	}
	return items, nil
}

// Close ends the stream, waits up to ioTimeout for the server to end its
// side, and closes the connection. The server broadcasts unavailable for
// the session. Close is idempotent; it returns the error that ended the
// stream, if it was not a clean close.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.closing)
		// Session.SetCloseDeadline would race with Serve (mellium v0.22.0
		// writes the deadline unguarded); the timer below bounds the wait.
		_ = c.session.Close()
		select {
		case <-c.served:
		case <-time.After(ioTimeout):
		}
		c.conn.Close()
		<-c.served
	})
	return c.serveErr
}

// send transmits one stanza.
func (c *Client) send(what string, r xml.TokenReader) error {
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := c.session.Send(ctx, r); err != nil {
		return fmt.Errorf("xmpptestclient: send %s: %w", what, err)
	}
	return nil
}

// serve reads the stream until it ends, handing presence to handle.
func (c *Client) serve() {
	defer close(c.served)
	defer close(c.presences)
	err := c.session.Serve(xmpp.HandlerFunc(c.handle))
	select {
	case <-c.closing:
		// Errors while closing (the deadline, a closed connection) are
		// ours, not the server's.
	default:
		if err != nil {
			c.serveErr = fmt.Errorf("xmpptestclient: stream: %w", err)
		}
	}
}

// presenceXML is the part of a received presence the client reports.
type presenceXML struct {
	From     string `xml:"from,attr"`
	Type     string `xml:"type,attr"`
	Show     string `xml:"show"`
	Status   string `xml:"status"`
	Priority int    `xml:"priority"`
}

// handle reports a received presence and approves subscription requests;
// other stanzas are ignored (Serve answers IQ requests with an error).
func (c *Client) handle(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	if start.Name.Local != "presence" {
		return nil
	}
	var p presenceXML
	// The decoder must see the start element itself to match its end.
	d := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), t))
	if err := d.Decode(&p); err != nil {
		return fmt.Errorf("xmpptestclient: decode presence: %w", err)
	}
	if p.Type == string(stanza.SubscribePresence) {
		from, err := jid.Parse(p.From)
		if err == nil {
			reply := stanza.Presence{To: from.Bare(), Type: stanza.SubscribedPresence}
			if _, err := xmlstream.Copy(t, reply.Wrap(nil)); err != nil {
				return fmt.Errorf("xmpptestclient: approve subscription: %w", err)
			}
		}
	}
	select {
	case c.presences <- Presence(p):
	case <-c.closing:
	}
	return nil
}

// bindResource is xmpp.BindResource with its client side replaced:
// mellium v0.22.0 sends an empty <resource/> whatever the JID's resource
// (bindPayload.TokenReader writes the empty JID field), so this binds
// origin's resource itself (RFC 6120 section 7) and records the bound JID.
func bindResource(origin jid.JID) xmpp.StreamFeature {
	f := xmpp.BindResource()
	f.Negotiate = func(ctx context.Context, s *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
		w := s.TokenWriter()
		defer w.Close()
		r := s.TokenReader()
		defer r.Close()
		id := randomID()
		var payload xml.TokenReader
		if res := origin.Resourcepart(); res != "" {
			payload = textElement("resource", res)
		}
		req := stanza.IQ{ID: id, Type: stanza.SetIQ}.Wrap(xmlstream.Wrap(payload,
			xml.StartElement{Name: xml.Name{Space: nsBind, Local: "bind"}}))
		if _, err := xmlstream.Copy(w, req); err != nil {
			return 0, nil, fmt.Errorf("bind: %w", err)
		}
		if err := w.Flush(); err != nil {
			return 0, nil, fmt.Errorf("bind: %w", err)
		}
		var resp bindIQ
		if err := xml.NewTokenDecoder(r).Decode(&resp); err != nil {
			return 0, nil, fmt.Errorf("bind: %w", err)
		}
		if resp.ID != id || resp.Type != "result" {
			return 0, nil, fmt.Errorf("bind: got iq type %q id %q, want result %q", resp.Type, resp.ID, id)
		}
		bound, err := jid.Parse(resp.Bind.JID)
		if err != nil {
			return 0, nil, fmt.Errorf("bind: bound jid: %w", err)
		}
		s.UpdateAddr(bound)
		return xmpp.Ready, nil, nil
	}
	return f
}

// bindIQ is a resource binding request or result.
type bindIQ struct {
	XMLName xml.Name `xml:"jabber:client iq"`
	ID      string   `xml:"id,attr"`
	Type    string   `xml:"type,attr"`
	Bind    struct {
		Resource string `xml:"resource,omitempty"`
		JID      string `xml:"jid,omitempty"`
	} `xml:"urn:ietf:params:xml:ns:xmpp-bind bind"`
}

// nsBind is the resource binding namespace (RFC 6120 section 7).
const nsBind = "urn:ietf:params:xml:ns:xmpp-bind"

// randomID returns a random stanza id.
func randomID() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// textElement returns <name>text</name> in the client namespace.
func textElement(name, text string) xml.TokenReader {
	return xmlstream.Wrap(xmlstream.Token(xml.CharData(text)), xml.StartElement{Name: xml.Name{Local: name}})
}
