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

// Parse parses an application/pidf+xml body.
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
func Parse(body []byte) (Document, error) {
	if len(body) > MaxBodySize {
		return Document{}, fmt.Errorf("pidf: parse: %w: %d bytes, limit %d", ErrTooLarge, len(body), MaxBodySize)
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.CharsetReader = charsetReader
	p := &parser{d: d}
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
		if !in(start.Name, "presence", NSPIDF) {
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

// parser walks the token stream, counting depth.
type parser struct {
	d     *xml.Decoder
	depth int
}

// next returns the next token, enforcing MaxDepth and rejecting
// declarations. It returns io.EOF unwrapped at the end of input.
func (p *parser) next() (xml.Token, error) {
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
func (p *parser) children(child func(xml.StartElement) error, text *textBuf) error {
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
func (p *parser) skip(xml.StartElement) error {
	return p.children(p.skip, nil)
}

// text returns the trimmed character data directly inside the current
// element, truncated to limit bytes, skipping child elements.
func (p *parser) text(limit int) (string, error) {
	b := textBuf{limit: limit}
	if err := p.children(p.skip, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

// textBuf accumulates character data up to a bound.
type textBuf struct {
	b     []byte
	limit int
}

// add appends data, keeping a margin above limit so that trimming leading
// whitespace cannot make the result shorter than it should be.
func (t *textBuf) add(data []byte) {
	room := 2*t.limit + 64 - len(t.b)
	if room <= 0 {
		return
	}
	if len(data) > room {
		data = data[:room]
	}
	t.b = append(t.b, data...)
}

// String returns the trimmed text cut to the limit at a UTF-8 boundary.
func (t *textBuf) String() string {
	return truncate(strings.TrimSpace(string(t.b)), t.limit)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// in reports whether name has the local name local and one of the
// namespaces spaces, or no namespace at all.
func in(name xml.Name, local string, spaces ...string) bool {
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

// attr returns the value of the unqualified attribute local, cut to
// MaxTokenBytes.
func attr(start xml.StartElement, local string) string {
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return truncate(strings.TrimSpace(a.Value), MaxTokenBytes)
		}
	}
	return ""
}

// isNote reports whether an element is a note in any namespace we know.
func isNote(name xml.Name) bool {
	return in(name, "note", NSPIDF, NSDataModel, NSRPID)
}

// isTimestamp reports whether an element is a timestamp in any namespace we
// know.
func isTimestamp(name xml.Name) bool {
	return in(name, "timestamp", NSPIDF, NSDataModel, NSRPID)
}

// note reads a note element and appends it to notes, up to MaxNotes.
func (p *parser) note(notes *[]string) error {
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
func (p *parser) timestamp(t *time.Time) error {
	s, err := p.text(MaxTokenBytes)
	if err != nil {
		return err
	}
	*t = parseTime(s)
	return nil
}

// presence reads the root element's content.
func (p *parser) presence(start xml.StartElement, doc *Document) error {
	doc.Entity = attr(start, "entity")
	return p.children(func(c xml.StartElement) error {
		switch {
		case in(c.Name, "tuple", NSPIDF):
			return appendChild(&doc.Tuples, MaxTuples, "tuples", Tuple{ID: attr(c, "id")}, p.tuple)
		case in(c.Name, "person", NSDataModel):
			return appendChild(&doc.Persons, MaxPersons, "persons", Person{ID: attr(c, "id")}, p.person)
		case in(c.Name, "device", NSDataModel):
			return appendChild(&doc.Devices, MaxDevices, "devices", Device{ID: attr(c, "id")}, p.device)
		case isNote(c.Name):
			return p.note(&doc.Notes)
		}
		return p.skip(c)
	}, nil)
}

// appendChild reads one child element into v with read and appends it to
// list, refusing more than limit of them (what names them in the error).
func appendChild[T any](list *[]T, limit int, what string, v T, read func(*T) error) error {
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
func (p *parser) tuple(t *Tuple) error {
	return p.children(func(c xml.StartElement) error {
		switch {
		case in(c.Name, "status", NSPIDF):
			return p.status(t)
		case in(c.Name, "contact", NSPIDF):
			t.Priority = parsePriority(attr(c, "priority"))
			s, err := p.text(MaxTokenBytes)
			t.Contact = s
			return err
		case in(c.Name, "deviceID", NSDataModel):
			s, err := p.text(MaxTokenBytes)
			t.DeviceID = s
			return err
		case isNote(c.Name):
			return p.note(&t.Notes)
		case isTimestamp(c.Name):
			return p.timestamp(&t.Timestamp)
		case in(c.Name, "activities", NSRPID):
			return p.activities(&t.Activities, &t.Notes)
		case in(c.Name, "user-input", NSRPID):
			return p.userInput(&t.UserInput)
		}
		return p.skip(c)
	}, nil)
}

// status reads a tuple's <status>: <basic> and, as older RPID senders put
// them there, RPID elements.
func (p *parser) status(t *Tuple) error {
	return p.children(func(c xml.StartElement) error {
		switch {
		case in(c.Name, "basic", NSPIDF):
			s, err := p.text(MaxTokenBytes)
			switch strings.ToLower(s) {
			case "open":
				t.Basic = BasicOpen
			case "closed":
				t.Basic = BasicClosed
			}
			return err
		case in(c.Name, "activities", NSRPID):
			return p.activities(&t.Activities, &t.Notes)
		case in(c.Name, "user-input", NSRPID):
			return p.userInput(&t.UserInput)
		}
		return p.skip(c)
	}, nil)
}

// person reads a <dm:person>'s content.
func (p *parser) person(pe *Person) error {
	return p.children(func(c xml.StartElement) error {
		switch {
		case in(c.Name, "activities", NSRPID):
			return p.activities(&pe.Activities, &pe.Notes)
		case in(c.Name, "user-input", NSRPID):
			return p.userInput(&pe.UserInput)
		case isNote(c.Name):
			return p.note(&pe.Notes)
		case isTimestamp(c.Name):
			return p.timestamp(&pe.Timestamp)
		}
		return p.skip(c)
	}, nil)
}

// device reads a <dm:device>'s content.
func (p *parser) device(dv *Device) error {
	return p.children(func(c xml.StartElement) error {
		switch {
		case in(c.Name, "deviceID", NSDataModel):
			s, err := p.text(MaxTokenBytes)
			dv.DeviceID = s
			return err
		case in(c.Name, "user-input", NSRPID):
			return p.userInput(&dv.UserInput)
		case isNote(c.Name):
			return p.note(&dv.Notes)
		case isTimestamp(c.Name):
			return p.timestamp(&dv.Timestamp)
		}
		return p.skip(c)
	}, nil)
}

// activities reads <rpid:activities>: every RPID-namespace child is an
// activity except <note>, which is appended to notes (RFC 4480 §3.2).
func (p *parser) activities(acts *[]Activity, notes *[]string) error {
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
func (p *parser) userInput(u *UserInput) error {
	s, err := p.text(MaxTokenBytes)
	switch strings.ToLower(s) {
	case "idle":
		*u = UserInputIdle
	case "active":
		*u = UserInputActive
	}
	return err
}

// parsePriority parses a contact priority (a qvalue, RFC 3863 §4.1.5);
// anything outside 0..1 gives 0.
func parsePriority(s string) float64 {
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f >= 0 && f <= 1) {
		return 0
	}
	return f
}

// timeLayouts are the forms of RFC 3339 date-times (and near misses) that
// parseTime accepts, after normalising 't', 'z' and a space separator.
// Fractional seconds are accepted by time.Parse after the seconds field
// whatever the layout.
var timeLayouts = []string{
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05Z07",
	"2006-01-02T15:04:05", // no zone: read as UTC
	"2006-01-02T15:04Z07:00",
}

// parseTime parses a timestamp leniently; it returns zero when no layout
// fits. The result is in UTC.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if len(s) < len("2006-01-02T15:04") || len(s) > 64 {
		return time.Time{}
	}
	b := []byte(s)
	if b[10] == 't' || b[10] == ' ' {
		b[10] = 'T'
	}
	if b[len(b)-1] == 'z' {
		b[len(b)-1] = 'Z'
	}
	s = string(b)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// charsetReader lets documents that declare US-ASCII or ISO-8859-1 parse;
// UTF-8 needs no reader. Other encodings are refused.
func charsetReader(label string, r io.Reader) (io.Reader, error) {
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
