package account

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// MaxStanzaSize bounds one top-level stream element (a stanza, the stream
// features, a SASL challenge) in bytes, the whitespace before it included.
// A larger element ends the stream with ErrStanzaTooLarge. It is sized for
// the roster result of an account at the most subscriptions an endpoint
// may hold (5,000 items of about 70 bytes); the stream comes from the
// account's own server.
const MaxStanzaSize = 512 << 10

// XMPP namespaces (RFC 6120, RFC 6121, XEP-0199).
const (
	nsStream  = "http://etherx.jabber.org/streams"
	nsClient  = "jabber:client"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsStreams = "urn:ietf:params:xml:ns:xmpp-streams"
	nsRoster  = "jabber:iq:roster"
	nsPing    = "urn:xmpp:ping"
)

// errStreamClosed reports that the server ended its stream with
// </stream:stream>.
var errStreamClosed = errors.New("server closed the stream")

// element is one top-level element of the server's stream.
type element struct {
	start xml.StartElement // its start tag, names resolved
	raw   []byte           // its text as received, leading whitespace trimmed
}

// attr returns the value of the unqualified attribute name, or "".
func (e element) attr(name string) string {
	for _, a := range e.start.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// is reports whether the element is space:local.
func (e element) is(space, local string) bool {
	return e.start.Name.Space == space && e.start.Name.Local == local
}

// decode unmarshals the element into v. The raw text may use prefixes
// declared on the stream header (stream:features); encoding/xml then keeps
// the prefix as the namespace, which the types here do not depend on.
func (e element) decode(v any) error {
	return xml.Unmarshal(e.raw, v)
}

// reader reads one XMPP stream from the server: its header, then one
// top-level element at a time.
type reader struct {
	x *xmlstream.Reader
}

// newReader starts reading a new stream (after connect, STARTTLS or SASL)
// from r.
func newReader(r io.Reader) *reader {
	return &reader{x: xmlstream.NewReader(r, MaxStanzaSize)}
}

// header reads up to and including the server's <stream:stream> tag.
func (r *reader) header() (xml.StartElement, error) {
	for {
		r.x.Mark()
		tok, err := r.x.Token()
		if err != nil {
			return xml.StartElement{}, fmt.Errorf("read stream header: %w", readErr(err))
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if t.Target != "xml" {
				return xml.StartElement{}, fmt.Errorf("read stream header: %w: processing instruction", ErrProtocol)
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, fmt.Errorf("read stream header: %w: text before the stream", ErrProtocol)
			}
		case xml.StartElement:
			if t.Name.Space != nsStream || t.Name.Local != "stream" {
				return xml.StartElement{}, fmt.Errorf("read stream header: %w: got <%s>", ErrProtocol, t.Name.Local)
			}
			return t.Copy(), nil
		default:
			return xml.StartElement{}, fmt.Errorf("read stream header: %w: unexpected %T", ErrProtocol, tok)
		}
	}
}

// next reads the next top-level element, skipping whitespace between
// elements (whitespace keepalives). It returns errStreamClosed at
// </stream:stream> and a *StreamError for <stream:error/>.
func (r *reader) next() (element, error) {
	for {
		begin := r.x.Mark()
		tok, err := r.x.Token()
		if err != nil {
			return element{}, readErr(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return element{}, fmt.Errorf("%w: text between stanzas", ErrProtocol)
			}
		case xml.EndElement:
			return element{}, errStreamClosed
		case xml.StartElement:
			start := t.Copy()
			if err := r.x.Element(checkInStanza); err != nil {
				return element{}, readErr(err)
			}
			raw := bytes.TrimLeft(r.x.Bytes(begin), " \t\r\n")
			el := element{start: start, raw: raw}
			if el.is(nsStream, "error") {
				return element{}, streamError(el)
			}
			return el, nil
		default:
			// Comments, processing instructions and DTDs are forbidden in
			// XMPP streams (RFC 6120 section 11.1).
			return element{}, fmt.Errorf("%w: %T in the stream", ErrProtocol, tok)
		}
	}
}

// checkInStanza refuses the tokens XMPP forbids inside stanzas: all but
// elements and text.
func checkInStanza(tok xml.Token) error {
	switch tok.(type) {
	case xml.StartElement, xml.EndElement, xml.CharData:
		return nil
	}
	return fmt.Errorf("%w: %T in a stanza", ErrProtocol, tok)
}

// readErr maps an error of the stream reader: a failed read of the
// connection is reported as such, with io.EOF meaning the connection
// ended without </stream:stream>; a too-large element is
// ErrStanzaTooLarge; a syntax error is a protocol error; the errors of
// checkInStanza stay as they are.
func readErr(err error) error {
	var syn *xml.SyntaxError
	switch {
	case err == io.EOF:
		return io.ErrUnexpectedEOF
	case errors.Is(err, xmlstream.ErrTooLarge):
		return ErrStanzaTooLarge
	case errors.As(err, &syn):
		return fmt.Errorf("%w: %v", ErrProtocol, syn)
	}
	return err
}

// conditionXML is any element with children, for error conditions.
type conditionXML struct {
	Type     string `xml:"type,attr"`
	Text     string `xml:"text"`
	Children []struct {
		XMLName xml.Name
	} `xml:",any"`
}

// condition returns the local name of the first child in space.
func (c conditionXML) condition(space string) string {
	for _, ch := range c.Children {
		if ch.XMLName.Space == space {
			return ch.XMLName.Local
		}
	}
	return "undefined-condition"
}

// streamError converts a <stream:error/> element.
func streamError(el element) error {
	var c conditionXML
	if err := el.decode(&c); err != nil {
		return fmt.Errorf("%w: unreadable stream error: %v", ErrProtocol, err)
	}
	return &StreamError{Condition: c.condition(nsStreams), Text: c.Text}
}

// escape returns s escaped for XML text and attribute values.
func escape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s)) // writes to a bytes.Buffer never fail
	return b.String()
}
