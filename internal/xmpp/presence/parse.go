package presence

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"time"
)

// nsXML is the namespace encoding/xml gives the xml: prefix.
const nsXML = "http://www.w3.org/XML/1998/namespace"

// Parse parses one presence stanza given as the raw bytes of its element,
// as read off the stream. The element may be in jabber:client,
// jabber:component:accept or no namespace, with any prefix; leading and
// trailing whitespace is allowed, any other content around it is
// ErrSyntax.
//
// Of several <status/> elements Parse keeps the first non-empty one whose
// language (its xml:lang, else the stanza's) is none, "en" or "en-*", else
// the first non-empty one. The first <show/> and <priority/> count. Of several delay stamps the
// earliest valid XEP-0203 one wins, else the earliest valid XEP-0091 one.
// Children of other namespaces (caps, vCard updates, MUC, ...) are skipped.
//
// Errors wrap one of the package's sentinels. See docs/xmpp-presence.md for
// the limits.
func Parse(raw []byte) (Stanza, error) {
	if len(raw) > MaxStanzaSize {
		return Stanza{}, fmt.Errorf("parse presence: %d bytes: %w", len(raw), ErrTooLarge)
	}
	// Strict and without an Entity map, the decoder knows only the five
	// predefined entities and character references.
	xd := xml.NewDecoder(bytes.NewReader(raw))
	start, err := firstElement(xd)
	if err != nil {
		return Stanza{}, fmt.Errorf("parse presence: %w", err)
	}
	s, err := Decode(xd, start)
	if err != nil {
		return Stanza{}, fmt.Errorf("parse presence: %w", err)
	}
	if err := trailer(xd); err != nil {
		return Stanza{}, fmt.Errorf("parse presence: %w", err)
	}
	return s, nil
}

// firstElement skips leading whitespace up to the root element.
func firstElement(xd *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := xd.Token()
		if err == io.EOF {
			return xml.StartElement{}, fmt.Errorf("%w: no element", ErrSyntax)
		}
		if err != nil {
			return xml.StartElement{}, syntaxError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, fmt.Errorf("%w: text before the element", ErrSyntax)
			}
		default:
			return xml.StartElement{}, restricted(tok)
		}
	}
}

// trailer checks that only whitespace follows the root element.
func trailer(xd *xml.Decoder) error {
	for {
		tok, err := xd.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return syntaxError(err)
		}
		if t, ok := tok.(xml.CharData); !ok || len(bytes.TrimSpace(t)) != 0 {
			return fmt.Errorf("%w: content after the stanza", ErrSyntax)
		}
	}
}

func syntaxError(err error) error {
	return fmt.Errorf("%w: %v", ErrSyntax, err)
}

// restricted returns the error for a token XMPP forbids.
func restricted(tok xml.Token) error {
	switch tok.(type) {
	case xml.Directive:
		return fmt.Errorf("%w: DTD or markup declaration", ErrRestricted)
	case xml.Comment:
		return fmt.Errorf("%w: comment", ErrRestricted)
	case xml.ProcInst:
		return fmt.Errorf("%w: processing instruction", ErrRestricted)
	}
	return fmt.Errorf("%w: unexpected token %T", ErrSyntax, tok)
}

// Decode reads one presence stanza from tr, whose start element the caller
// has already read (a connector that holds a token stream positioned at a
// stanza uses it instead of Parse). tr must yield namespace-resolved names
// as xml.Decoder.Token does; Decode reads up to and including the matching
// end element. It applies the limits of Parse except MaxStanzaSize, which
// it replaces by MaxTextBytes of character data.
//
// ErrNotPresence, ErrType and ErrJID come from the start element alone:
// after them Decode has read nothing more, and the caller may skip the
// element and go on. After any other error tr is somewhere inside the
// stanza; a stream reader should then end the stream.
func Decode(tr xml.TokenReader, start xml.StartElement) (Stanza, error) {
	d := decoder{tr: tr}
	if err := d.root(start); err != nil {
		return Stanza{}, err
	}
	if err := d.children(); err != nil {
		return Stanza{}, err
	}
	d.finish()
	return d.s, nil
}

// decoder holds the state of one Decode.
type decoder struct {
	tr       xml.TokenReader
	s        Stanza
	ns       string // the stanza's namespace: children in it or in none count
	lang     string // the stanza's xml:lang
	depth    int    // current element depth; the stanza is 1
	elements int    // elements seen below the stanza
	text     int    // bytes of character data seen

	statusEN                      bool // the kept status is in the preferred language
	haveShow, havePrio, haveError bool
	delay, legacyDelay            time.Time
}

// root checks the stanza's start element and reads its attributes.
func (d *decoder) root(start xml.StartElement) error {
	switch start.Name.Space {
	case NSClient, NSComponent, "":
	default:
		return fmt.Errorf("%w: element {%s}%s", ErrNotPresence, truncate(start.Name.Space, 64), truncate(start.Name.Local, 64))
	}
	if start.Name.Local != "presence" {
		return fmt.Errorf("%w: element %s", ErrNotPresence, truncate(start.Name.Local, 64))
	}
	d.ns, d.depth = start.Name.Space, 1
	for _, a := range start.Attr {
		var err error
		switch {
		case a.Name.Space == nsXML && a.Name.Local == "lang":
			d.lang = truncate(a.Value, 64)
		case a.Name.Space != "":
		case a.Name.Local == "from":
			d.s.From, err = ParseJID(a.Value)
		case a.Name.Local == "to":
			d.s.To, err = ParseJID(a.Value)
		case a.Name.Local == "type":
			d.s.Type, err = parseType(a.Value)
		}
		if err != nil {
			return fmt.Errorf("attribute %s: %w", a.Name.Local, err)
		}
	}
	return nil
}

func parseType(v string) (Type, error) {
	switch t := Type(v); t {
	case TypeUnavailable, TypeError, TypeProbe, TypeSubscribe, TypeSubscribed,
		TypeUnsubscribe, TypeUnsubscribed:
		return t, nil
	}
	return "", fmt.Errorf("%w %q", ErrType, truncate(v, 64))
}

// next returns the next token, keeping count of depth, elements and text
// against the limits. It copies nothing: tokens are valid until the next
// call.
func (d *decoder) next() (xml.Token, error) {
	tok, err := d.tr.Token()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: stanza not closed", ErrSyntax)
	}
	if err != nil {
		return nil, syntaxError(err)
	}
	switch t := tok.(type) {
	case xml.StartElement:
		d.depth++
		d.elements++
		if d.depth > MaxDepth {
			return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
		if d.elements > MaxElements {
			return nil, fmt.Errorf("%w: more than %d elements", ErrTooMany, MaxElements)
		}
	case xml.EndElement:
		d.depth--
	case xml.CharData:
		d.text += len(t)
		if d.text > MaxTextBytes {
			return nil, fmt.Errorf("%w: more than %d bytes of text", ErrTooLarge, MaxTextBytes)
		}
	default:
		return nil, restricted(tok)
	}
	return tok, nil
}

// children reads the stanza's content up to its end element.
func (d *decoder) children() error {
	for {
		tok, err := d.next()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil // depth is back to 0: the stanza's own end
		case xml.StartElement:
			if err := d.child(t); err != nil {
				return err
			}
		}
	}
}

// child reads one child element of the stanza, whose start was just read.
func (d *decoder) child(t xml.StartElement) error {
	space, local := t.Name.Space, t.Name.Local
	own := space == d.ns || space == ""
	switch {
	case own && local == "show":
		return d.show()
	case own && local == "status":
		return d.status(t)
	case own && local == "priority":
		return d.priority()
	case own && local == "error" && d.s.Type == TypeError:
		return d.stanzaError(t)
	case space == NSDelay && local == "delay":
		d.stamp(t, &d.delay, time.RFC3339Nano)
	case space == NSLegacyDelay && local == "x":
		d.stamp(t, &d.legacyDelay, "20060102T15:04:05")
	}
	return d.skip()
}

// skip reads up to the end of the element whose start was just read.
func (d *decoder) skip() error {
	for target := d.depth - 1; d.depth > target; {
		if _, err := d.next(); err != nil {
			return err
		}
	}
	return nil
}

// readText returns the trimmed character data directly inside the element
// whose start was just read, and reads up to its end.
func (d *decoder) readText() (string, error) {
	var buf []byte
	for inner := d.depth; d.depth >= inner; {
		tok, err := d.next()
		if err != nil {
			return "", err
		}
		if cd, ok := tok.(xml.CharData); ok && d.depth == inner {
			buf = append(buf, cd...)
		}
	}
	return string(bytes.TrimSpace(buf)), nil
}

// finish settles what depends on the whole stanza.
func (d *decoder) finish() {
	d.s.Delay = d.delay
	if d.s.Delay.IsZero() {
		d.s.Delay = d.legacyDelay
	}
	if d.s.Type == TypeError && d.s.Error.Condition == "" {
		d.s.Error.Condition = "undefined-condition"
	}
}
