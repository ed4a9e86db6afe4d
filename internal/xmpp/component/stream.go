package component

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// XML namespaces used on a component stream.
const (
	nsComponent = "jabber:component:accept"             // XEP-0114
	nsStreams   = "http://etherx.jabber.org/streams"    // RFC 6120
	nsStreamErr = "urn:ietf:params:xml:ns:xmpp-streams" // RFC 6120 §4.9
	nsStanzaErr = "urn:ietf:params:xml:ns:xmpp-stanzas" // RFC 6120 §8.3
	nsPing      = "urn:xmpp:ping"                       // XEP-0199
	nsPriv1     = "urn:xmpp:privilege:1"                // XEP-0356 before 0.4 (ejabberd 23.01)
	nsPriv2     = "urn:xmpp:privilege:2"                // XEP-0356 0.4+ (Prosody mod_privilege)
)

// MaxStanzaSize bounds one top-level element read from the server, from
// its first byte to its last. A larger element ends the stream with
// ErrStanzaTooLarge.
const MaxStanzaSize = 64 << 10

// ErrStanzaTooLarge reports a stanza longer than MaxStanzaSize.
var ErrStanzaTooLarge = fmt.Errorf("stanza larger than %d bytes", MaxStanzaSize)

// errStreamClosed reports that the server ended its stream with
// </stream:stream>.
var errStreamClosed = errors.New("server closed the stream")

// errConnClosed reports that the server closed the connection without
// ending the stream (a crash, a kill, a restart).
var errConnClosed = errors.New("server closed the connection")

// element is one top-level element of the server's stream.
type element struct {
	name xml.Name // resolved name of the root
	raw  []byte   // the element's bytes as received
	// toks are the element's tokens, kept for every element but
	// presence, which is handed on as raw bytes only.
	toks []xml.Token
}

// decode unmarshals the element's tokens into v.
func (e element) decode(v any) error {
	return xml.NewTokenDecoder(&tokenSlice{toks: e.toks}).Decode(v)
}

// tokenSlice is an xml.TokenReader over recorded tokens.
type tokenSlice struct{ toks []xml.Token }

func (s *tokenSlice) Token() (xml.Token, error) {
	if len(s.toks) == 0 {
		return nil, io.EOF
	}
	t := s.toks[0]
	s.toks = s.toks[1:]
	return t, nil
}

// maxBuffered bounds the bytes read since the last top-level element
// ended: MaxStanzaSize plus some slack for the whitespace before the next
// one, the memory bound. reader.rest checks the exact size of each
// element.
const maxBuffered = MaxStanzaSize + 1024

// reader reads a server's component stream.
type reader struct {
	x *xmlstream.Reader
}

func newReader(r io.Reader) *reader {
	return &reader{x: xmlstream.NewReader(r, maxBuffered)}
}

// header reads up to the server's <stream:stream> and returns its id. A
// server that refuses the stream outright (ejabberd's host-unknown) sends
// its header and then a stream error, which the caller reads next.
func (r *reader) header() (id string, err error) {
	for {
		r.x.Mark()
		tok, err := r.x.Token()
		if err != nil {
			return "", fmt.Errorf("read stream header: %w", readErr(err))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name != (xml.Name{Space: nsStreams, Local: "stream"}) {
				return "", fmt.Errorf("read stream header: got <%s> in %q", t.Name.Local, t.Name.Space)
			}
			for _, a := range t.Attr {
				if a.Name.Local == "id" && a.Name.Space == "" {
					id = a.Value
				}
			}
			return id, nil
		case xml.CharData, xml.ProcInst, xml.Comment:
			// The XML declaration and whitespace before the header.
		default:
			return "", fmt.Errorf("read stream header: unexpected %T", tok)
		}
	}
}

// next reads the next top-level element. It returns errStreamClosed when
// the server ends the stream, ErrStanzaTooLarge for an oversized element.
func (r *reader) next() (element, error) {
	for {
		from := r.x.Mark()
		tok, err := r.x.Token()
		if err != nil {
			return element{}, readErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return r.rest(t, from)
		case xml.EndElement:
			return element{}, errStreamClosed
		}
		// Whitespace keepalives between stanzas.
	}
}

// readErr maps an error of the stream reader: errConnClosed when the
// connection ended (even inside an element), ErrStanzaTooLarge past
// maxBuffered; others stay as they are.
func readErr(err error) error {
	switch {
	case err == io.EOF:
		return errConnClosed
	case errors.Is(err, xmlstream.ErrTooLarge):
		return ErrStanzaTooLarge
	}
	return err
}

// rest reads the element opened by start, which began at offset from.
func (r *reader) rest(start xml.StartElement, from int64) (element, error) {
	e := element{name: start.Name}
	keep := start.Name != xml.Name{Space: nsComponent, Local: "presence"}
	var each func(xml.Token) error
	if keep {
		e.toks = append(e.toks, start.Copy())
		each = func(tok xml.Token) error {
			e.toks = append(e.toks, xml.CopyToken(tok))
			return nil
		}
	}
	if err := r.x.Element(each); err != nil {
		return element{}, readErr(err)
	}
	e.raw = r.x.Bytes(from)
	if len(e.raw) > MaxStanzaSize {
		return element{}, ErrStanzaTooLarge
	}
	if !keep {
		e.raw = withNamespace(e.raw, start)
	}
	return e, nil
}

// withNamespace makes raw, a presence element that inherits its default
// namespace from the stream header, self-contained by declaring
// jabber:component:accept on it, as a parser reading it alone needs.
func withNamespace(raw []byte, start xml.StartElement) []byte {
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == "xmlns" {
			return raw
		}
	}
	const tag = "<presence"
	if !bytes.HasPrefix(raw, []byte(tag)) {
		return raw // prefixed; the prefix's declaration is the server's business
	}
	out := make([]byte, 0, len(raw)+len(nsComponent)+10)
	out = append(out, tag...)
	out = append(out, " xmlns='"+nsComponent+"'"...)
	return append(out, raw[len(tag):]...)
}

// StreamError is a stream error the server sent (RFC 6120 §4.9).
type StreamError struct {
	// Condition is the defined condition, e.g. "not-authorized".
	Condition string
	// Text is the server's optional human-readable description.
	Text string
}

// Error returns the condition, a hint about the likely cause and the
// server's text, e.g. "not-authorized (wrong secret?): server says
// "Given token does not match calculated token"".
func (e *StreamError) Error() string {
	var b strings.Builder
	b.WriteString(e.Condition)
	if h := streamErrorHints[e.Condition]; h != "" {
		fmt.Fprintf(&b, " (%s)", h)
	}
	if e.Text != "" {
		fmt.Fprintf(&b, ": server says %q", e.Text)
	}
	return b.String()
}

// streamErrorHints name the usual cause of the conditions a component
// meets while connecting.
var streamErrorHints = map[string]string{
	"not-authorized":   "wrong secret?",
	"host-unknown":     "is the component address configured on the server?",
	"conflict":         "another connection already serves this component address?",
	"policy-violation": "the server refused the connection by policy",
	"system-shutdown":  "the server is shutting down",
}

// streamErrorXML is <stream:error/>: one condition child and an optional
// <text/>.
type streamErrorXML struct {
	Children []struct {
		XMLName xml.Name
		Text    string `xml:",chardata"`
	} `xml:",any"`
}

// parseStreamError returns the StreamError an element <stream:error/>
// carries.
func parseStreamError(e element) *StreamError {
	var x streamErrorXML
	se := &StreamError{Condition: "undefined-condition"}
	if err := e.decode(&x); err != nil {
		return se
	}
	for _, c := range x.Children {
		if c.XMLName.Space != nsStreamErr {
			continue
		}
		if c.XMLName.Local == "text" {
			se.Text = strings.TrimSpace(c.Text)
		} else {
			se.Condition = c.XMLName.Local
		}
	}
	return se
}

// isStreamError reports whether e is <stream:error/>.
func isStreamError(e element) bool {
	return e.name == xml.Name{Space: nsStreams, Local: "error"}
}

// attr escapes s for an attribute value in single or double quotes.
func attr(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}

// checkStanza reports whether stanza is exactly one well-formed element
// (surrounding whitespace allowed) no larger than MaxStanzaSize, so that
// Send cannot break the stream.
func checkStanza(stanza []byte) error {
	if len(stanza) > MaxStanzaSize {
		return ErrStanzaTooLarge
	}
	d := xml.NewDecoder(bytes.NewReader(stanza))
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("malformed stanza: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return errors.New("malformed stanza: text outside the element")
			}
		default:
			if depth == 0 {
				return fmt.Errorf("malformed stanza: %T outside the element", tok)
			}
		}
	}
	if roots != 1 || depth != 0 {
		return fmt.Errorf("malformed stanza: %d root elements", roots)
	}
	return nil
}
