package account

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// conn is one connection to the server. Writes are serialised by wmu;
// once serve runs, only serve reads.
type conn struct {
	nc     net.Conn
	r      *reader // the current stream
	secure bool    // TLS is established
	jid    string  // the bound full JID
	mech   string  // the SASL mechanism used

	wmu sync.Mutex // serialises writes

	// mu guards the fields below.
	mu      sync.Mutex
	seq     uint64
	pending map[string]chan element // open requests by stanza id
	err     error                   // why serve ended; nil while it runs
}

func newConn(nc net.Conn) *conn {
	return &conn{nc: nc, pending: map[string]chan element{}}
}

// iqXML is what the session reads of an <iq/>.
type iqXML struct {
	ID    string        `xml:"id,attr"`
	Type  string        `xml:"type,attr"`
	From  string        `xml:"from,attr"`
	Error *conditionXML `xml:"error"`
	Bind  *struct {
		JID string `xml:"jid"`
	} `xml:"urn:ietf:params:xml:ns:xmpp-bind bind"`
	Roster *rosterXML `xml:"jabber:iq:roster query"`
	Ping   *struct{}  `xml:"urn:xmpp:ping ping"`
}

// stanzaErr returns the *StanzaError of an error answer, or nil.
func (iq iqXML) stanzaErr() error {
	if iq.Type != "error" {
		return nil
	}
	if iq.Error == nil {
		return &StanzaError{Type: "cancel", Condition: "undefined-condition"}
	}
	return &StanzaError{Type: iq.Error.Type, Condition: iq.Error.condition(nsStanzas), Text: iq.Error.Text}
}

// write sends s, bounded by ioTimeout.
func (c *conn) write(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c.nc, s); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// nextID returns a fresh stanza id.
func (c *conn) nextID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	return "pd" + strconv.FormatUint(c.seq, 36)
}

// iqStanza returns an <iq/> with the given payload.
func iqStanza(id, typ, to, payload string) string {
	s := "<iq type='" + typ + "' id='" + id + "'"
	if to != "" {
		s += " to='" + escape(to) + "'"
	}
	return s + ">" + payload + "</iq>"
}

// request sends an <iq/> and reads the stream up to its answer; it is
// for the negotiation, before serve reads the stream.
func (c *conn) request(typ, to, payload string) (element, error) {
	id := c.nextID()
	if err := c.write(iqStanza(id, typ, to, payload)); err != nil {
		return element{}, err
	}
	for {
		el, err := c.r.next()
		if err != nil {
			return element{}, err
		}
		if el.start.Name.Local != "iq" || el.attr("id") != id {
			continue // nothing else is expected before the session is bound
		}
		var iq iqXML
		if err := el.decode(&iq); err != nil {
			return element{}, fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		if err := iq.stanzaErr(); err != nil {
			return element{}, err
		}
		return el, nil
	}
}

// send registers an open request and sends it; the answer arrives on the
// returned channel (buffered), which is closed without one if the stream
// ends first.
func (c *conn) send(typ, to, payload string) (string, <-chan element, error) {
	id := c.nextID()
	ch := make(chan element, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return "", nil, fmt.Errorf("%w: %w", ErrDisconnected, c.err)
	}
	c.pending[id] = ch
	c.mu.Unlock()
	if err := c.write(iqStanza(id, typ, to, payload)); err != nil {
		c.forget(id)
		return "", nil, err
	}
	return id, ch, nil
}

// forget drops an open request.
func (c *conn) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// iq sends a request and waits for its answer or ctx; an error answer is
// returned as a *StanzaError.
func (c *conn) iq(ctx context.Context, typ, to, payload string) (iqXML, error) {
	id, ch, err := c.send(typ, to, payload)
	if err != nil {
		return iqXML{}, err
	}
	select {
	case el, ok := <-ch:
		if !ok {
			return iqXML{}, c.lostErr()
		}
		var iq iqXML
		if err := el.decode(&iq); err != nil {
			return iqXML{}, fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		return iq, iq.stanzaErr()
	case <-ctx.Done():
		c.forget(id)
		return iqXML{}, ctx.Err()
	}
}

// lostErr returns the error for a request whose stream ended.
func (c *conn) lostErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Errorf("%w: %w", ErrDisconnected, c.err)
}

// endErr returns why serve ended.
func (c *conn) endErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// answer delivers an <iq type="result|error"/> to its open request and
// reports whether there was one.
func (c *conn) answer(el element) bool {
	id := el.attr("id")
	c.mu.Lock()
	ch, ok := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if ok {
		ch <- el
	}
	return ok
}

// end records why serve ended and closes every open request.
func (c *conn) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
}

// reply answers a request from the server: a result, or the stanza error
// condition cond (type cancel).
func (c *conn) reply(el element, cond string) error {
	id, from := el.attr("id"), el.attr("from")
	to := ""
	if from != "" {
		to = " to='" + escape(from) + "'"
	}
	if cond == "" {
		return c.write("<iq type='result' id='" + escape(id) + "'" + to + "/>")
	}
	return c.write("<iq type='error' id='" + escape(id) + "'" + to + "><error type='cancel'><" + cond +
		" xmlns='" + nsStanzas + "'/></error></iq>")
}

// closeStream ends the stream politely: unavailable presence, then the
// closing tag. Errors are ignored; the connection is closed next.
func (c *conn) closeStream() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = io.WriteString(c.nc, "<presence type='unavailable'/></stream:stream>")
}
