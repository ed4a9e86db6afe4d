package pidf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// refParse is the encoding/xml parser that Parse replaced, kept as the
// reference FuzzParseMatchesReference compares Parse with. It is the
// original code except for the names and two fixes, marked "Changed from
// the original", that Parse shares: refTextBuf.add no longer cuts a
// multi-byte character in two, and a second encoding declaration is an
// error.
//
// Original documentation: refParse parses an application/pidf+xml body.
//
// Elements and attributes of unknown namespaces are skipped. An element
// with no namespace at all (a sender that forgot its xmlns declarations) is
// read as if it were in the namespace expected at its position. <note> and
// <timestamp> are accepted from the PIDF, data-model and RPID namespaces
// wherever a note or timestamp is expected. Errors wrap ErrTooLarge,
// ErrTooDeep, ErrTooMany, ErrDTD, ErrSyntax or ErrNotPIDF.
//
// encoding/xml never fetches external entities and knows only the five
// predefined ones; Parse additionally rejects any DOCTYPE or other markup
// declaration, so neither external entities nor entity expansion can occur.
func refParse(body []byte) (Document, error) {
	if len(body) > MaxBodySize {
		return Document{}, fmt.Errorf("pidf: parse: %w: %d bytes, limit %d", ErrTooLarge, len(body), MaxBodySize)
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	// Changed from the original: encoding/xml calls CharsetReader for
	// every <?xml?> declaring a non-UTF-8 encoding, wherever it is, and
	// each call converted the rest of the body again (so text was decoded
	// twice, and a body of such declarations took quadratic time). Now a
	// second one is an error; see TestParseOneEncodingDeclaration.
	declared := false
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		if declared {
			return nil, errors.New("pidf: more than one encoding declaration")
		}
		declared = true
		return refCharsetReader(label, r)
	}
	p := &refParser{d: d}
	for {
		tok, err := p.next()
		if err == io.EOF {
			return Document{}, fmt.Errorf("pidf: parse: %w: no root element", ErrNotPIDF)
		}
		if err != nil {
			return Document{}, fmt.Errorf("pidf: parse: %w", err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue // prolog: declaration, comments, whitespace
		}
		if !refIn(start.Name, "presence", NSPIDF) {
			return Document{}, fmt.Errorf("pidf: parse: %w: root element {%s}%s", ErrNotPIDF, start.Name.Space, start.Name.Local)
		}
		var doc Document
		if err := p.presence(start, &doc); err != nil {
			return Document{}, fmt.Errorf("pidf: parse: %w", err)
		}
		// Whatever follows the root element is not read: it cannot change
		// the document.
		return doc, nil
	}
}

// refParser walks the token stream, counting depth.
type refParser struct {
	d     *xml.Decoder
	depth int
}

// next returns the next token, enforcing MaxDepth and rejecting
// declarations. It returns io.EOF unwrapped at the end of input.
func (p *refParser) next() (xml.Token, error) {
	tok, err := p.d.Token()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	switch t := tok.(type) {
	case xml.StartElement:
		p.depth++
		if p.depth > MaxDepth {
			return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
	case xml.EndElement:
		p.depth--
	case xml.Directive:
		return nil, fmt.Errorf("%w: <!%.20s", ErrDTD, t)
	}
	return tok, nil
}

// children reads up to the end of the current element, calling child for
// every child element (child must consume it, e.g. with skip) and
// collecting character data into text when text is not nil.
func (p *refParser) children(child func(xml.StartElement) error, text *refTextBuf) error {
	for {
		tok, err := p.next()
		if err == io.EOF {
			return fmt.Errorf("%w: unexpected end of document", ErrSyntax)
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := child(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		case xml.CharData:
			if text != nil {
				text.add(t)
			}
		}
	}
}

// skip consumes the current element and everything inside it.
func (p *refParser) skip(xml.StartElement) error {
	return p.children(p.skip, nil)
}

// text returns the trimmed character data directly inside the current
// element, truncated to limit bytes, skipping child elements.
func (p *refParser) text(limit int) (string, error) {
	b := refTextBuf{limit: limit}
	if err := p.children(p.skip, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

// refTextBuf accumulates character data up to a bound.
type refTextBuf struct {
	b     []byte
	limit int
	full  bool // data was cut: nothing more is added
}

// add appends data, keeping a margin above limit so that trimming leading
// whitespace cannot make the result shorter than it should be.
//
// Changed from the original: data is cut at a UTF-8 boundary and the
// buffer is then full. The original cut anywhere, so that after trimming
// more than 2*limit+64-limit bytes of leading white space a note could end
// in half a character (invalid UTF-8).
func (t *refTextBuf) add(data []byte) {
	room := 2*t.limit + 64 - len(t.b)
	if room <= 0 || t.full {
		return
	}
	if len(data) > room {
		for room > 0 && !utf8.RuneStart(data[room]) {
			room--
		}
		data = data[:room]
		t.full = true
	}
	t.b = append(t.b, data...)
}

// String returns the trimmed text cut to the limit at a UTF-8 boundary.
func (t *refTextBuf) String() string {
	return truncate(strings.TrimSpace(string(t.b)), t.limit)
}

// refIn reports whether name has the local name local and one of the
// namespaces spaces, or no namespace at all.
func refIn(name xml.Name, local string, spaces ...string) bool {
	if name.Local != local {
		return false
	}
	if name.Space == "" {
		return true
	}
	for _, s := range spaces {
		if name.Space == s {
			return true
		}
	}
	return false
}

// refAttr returns the value of the unqualified attribute local, cut to
// MaxTokenBytes.
func refAttr(start xml.StartElement, local string) string {
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return truncate(strings.TrimSpace(a.Value), MaxTokenBytes)
		}
	}
	return ""
}

// refIsNote reports whether an element is a note in any namespace we know.
func refIsNote(name xml.Name) bool {
	return refIn(name, "note", NSPIDF, NSDataModel, NSRPID)
}

// refIsTimestamp reports whether an element is a timestamp in any namespace we
// know.
func refIsTimestamp(name xml.Name) bool {
	return refIn(name, "timestamp", NSPIDF, NSDataModel, NSRPID)
}

// note reads a note element and appends it to notes, up to MaxNotes.
func (p *refParser) note(notes *[]string) error {
	s, err := p.text(MaxNoteBytes)
	if err != nil {
		return err
	}
	if s != "" && len(*notes) < MaxNotes {
		*notes = append(*notes, s)
	}
	return nil
}

// timestamp reads a timestamp element; an unparsable one gives zero.
func (p *refParser) timestamp(t *time.Time) error {
	s, err := p.text(MaxTokenBytes)
	if err != nil {
		return err
	}
	*t = parseTime(s)
	return nil
}

// presence reads the root element's content.
func (p *refParser) presence(start xml.StartElement, doc *Document) error {
	doc.Entity = refAttr(start, "entity")
	return p.children(func(c xml.StartElement) error {
		switch {
		case refIn(c.Name, "tuple", NSPIDF):
			return refAppendChild(&doc.Tuples, MaxTuples, "tuples", Tuple{ID: refAttr(c, "id")}, p.tuple)
		case refIn(c.Name, "person", NSDataModel):
			return refAppendChild(&doc.Persons, MaxPersons, "persons", Person{ID: refAttr(c, "id")}, p.person)
		case refIn(c.Name, "device", NSDataModel):
			return refAppendChild(&doc.Devices, MaxDevices, "devices", Device{ID: refAttr(c, "id")}, p.device)
		case refIsNote(c.Name):
			return p.note(&doc.Notes)
		}
		return p.skip(c)
	}, nil)
}

// refAppendChild reads one child element into v with read and appends it to
// list, refusing more than limit of them (what names them in the error).
func refAppendChild[T any](list *[]T, limit int, what string, v T, read func(*T) error) error {
	if len(*list) == limit {
		return fmt.Errorf("%w: more than %d %s", ErrTooMany, limit, what)
	}
	if err := read(&v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}

// tuple reads a <tuple>'s content.
func (p *refParser) tuple(t *Tuple) error {
	return p.children(func(c xml.StartElement) error {
		switch {
		case refIn(c.Name, "status", NSPIDF):
			return p.status(t)
		case refIn(c.Name, "contact", NSPIDF):
			t.Priority = parsePriority(refAttr(c, "priority"))
			s, err := p.text(MaxTokenBytes)
			t.Contact = s
			return err
		case refIn(c.Name, "deviceID", NSDataModel):
			s, err := p.text(MaxTokenBytes)
			t.DeviceID = s
			return err
		case refIsNote(c.Name):
			return p.note(&t.Notes)
		case refIsTimestamp(c.Name):
			return p.timestamp(&t.Timestamp)
		case refIn(c.Name, "activities", NSRPID):
			return p.activities(&t.Activities, &t.Notes)
		case refIn(c.Name, "user-input", NSRPID):
			return p.userInput(&t.UserInput)
		}
		return p.skip(c)
	}, nil)
}

// status reads a tuple's <status>: <basic> and, as older RPID senders put
// them there, RPID elements.
func (p *refParser) status(t *Tuple) error {
	return p.children(func(c xml.StartElement) error {
		switch {
		case refIn(c.Name, "basic", NSPIDF):
			s, err := p.text(MaxTokenBytes)
			switch strings.ToLower(s) {
			case "open":
				t.Basic = BasicOpen
			case "closed":
				t.Basic = BasicClosed
			}
			return err
		case refIn(c.Name, "activities", NSRPID):
			return p.activities(&t.Activities, &t.Notes)
		case refIn(c.Name, "user-input", NSRPID):
			return p.userInput(&t.UserInput)
		}
		return p.skip(c)
	}, nil)
}

// person reads a <dm:person>'s content.
func (p *refParser) person(pe *Person) error {
	return p.children(func(c xml.StartElement) error {
		switch {
		case refIn(c.Name, "activities", NSRPID):
			return p.activities(&pe.Activities, &pe.Notes)
		case refIn(c.Name, "user-input", NSRPID):
			return p.userInput(&pe.UserInput)
		case refIsNote(c.Name):
			return p.note(&pe.Notes)
		case refIsTimestamp(c.Name):
			return p.timestamp(&pe.Timestamp)
		}
		return p.skip(c)
	}, nil)
}

// device reads a <dm:device>'s content.
func (p *refParser) device(dv *Device) error {
	return p.children(func(c xml.StartElement) error {
		switch {
		case refIn(c.Name, "deviceID", NSDataModel):
			s, err := p.text(MaxTokenBytes)
			dv.DeviceID = s
			return err
		case refIn(c.Name, "user-input", NSRPID):
			return p.userInput(&dv.UserInput)
		case refIsNote(c.Name):
			return p.note(&dv.Notes)
		case refIsTimestamp(c.Name):
			return p.timestamp(&dv.Timestamp)
		}
		return p.skip(c)
	}, nil)
}

// activities reads <rpid:activities>: every RPID-namespace child is an
// activity except <note>, which is appended to notes (RFC 4480 §3.2).
func (p *refParser) activities(acts *[]Activity, notes *[]string) error {
	return p.children(func(c xml.StartElement) error {
		if c.Name.Space != NSRPID && c.Name.Space != "" {
			return p.skip(c) // an extension activity we do not know
		}
		if c.Name.Local == "note" {
			return p.note(notes)
		}
		a := Activity{Name: truncate(c.Name.Local, MaxTokenBytes)}
		if a.Name == "other" {
			s, err := p.text(MaxTokenBytes)
			if err != nil {
				return err
			}
			a.Text = s
		} else if err := p.skip(c); err != nil {
			return err
		}
		if len(*acts) < MaxActivities {
			*acts = append(*acts, a)
		}
		return nil
	}, nil)
}

// userInput reads <rpid:user-input>.
func (p *refParser) userInput(u *UserInput) error {
	s, err := p.text(MaxTokenBytes)
	switch strings.ToLower(s) {
	case "idle":
		*u = UserInputIdle
	case "active":
		*u = UserInputActive
	}
	return err
}

// refCharsetReader lets documents that declare US-ASCII or ISO-8859-1 parse;
// UTF-8 needs no reader. Other encodings are refused.
func refCharsetReader(label string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "us-ascii", "ascii":
		return r, nil
	case "iso-8859-1", "latin1", "latin-1", "iso8859-1":
		raw, err := io.ReadAll(io.LimitReader(r, MaxBodySize))
		if err != nil {
			return nil, fmt.Errorf("pidf: read latin-1 body: %w", err)
		}
		out := make([]byte, 0, len(raw)+len(raw)/8)
		for _, c := range raw {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), nil
	}
	return nil, errors.New("pidf: unsupported charset " + strconv.Quote(truncate(label, 32)))
}
