package pidf

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// scanner is a hand-written XML tokenizer for what presence documents
// need: elements, attributes, namespaces, character data with the five
// predefined entities and character references, CDATA sections; comments
// and processing instructions are skipped and any other markup
// declaration is ErrDTD.
//
// It accepts and rejects what the encoding/xml Decoder (Strict, no Entity
// map, with the package's charset rules) accepts and rejects, token by
// token, and resolves names the way Decoder.Token does, so that Parse kept
// its behaviour when it left encoding/xml. FuzzParseMatchesReference
// checks this against the old parser. Its speed comes from working on the
// body in place: tokens are slices of the body or of one reused buffer,
// names are compared as bytes, and namespaces are classified once, when
// declared. A scanner is not safe for concurrent use.
type scanner struct {
	buf []byte // the document; after a latin-1 declaration, what follows it is in UTF-8
	pos int    // the next byte to read

	// The current token, valid until the next call of next.
	elem  elemName // tokStart: the element
	attrs []attr   // tokStart: its attributes in document order
	text  []byte   // tokText: the character data, references decoded

	open      []openElem // elements not yet closed, root first
	ns        namespaces // the namespace declarations in scope
	selfClose bool       // the last start tag was empty-element: next ends it
	encoded   bool       // an encoding other than UTF-8 was declared
	scratch   []byte     // decoded text and attribute values of the current token
	names     nameChecker
}

// token is the kind of a scanner token.
type token uint8

const (
	tokEOF   token = iota // the end of the input, outside every element
	tokStart              // a start tag; an empty-element tag gives tokStart, tokEnd
	tokEnd                // an end tag
	tokText               // character data or a CDATA section
)

// elemName is a resolved element name.
type elemName struct {
	space nsClass
	local []byte
}

// is reports whether n has the local name local and the namespace space or
// none at all (the leniency of docs/pidf.md).
func (n elemName) is(local string, space nsClass) bool {
	return string(n.local) == local && (n.space == nsNone || n.space == space)
}

// The scanner keeps names and values as positions rather than slices:
// without pointers, its stacks cost the garbage collector nothing (no
// write barriers, nothing to scan).

// qname is a name as written, by position in scanner.buf: the prefix is
// buf[start:local-1] (none when local == start), the local name
// buf[local:end].
type qname struct{ start, local, end int }

// attr is an attribute of the current start tag. Its value is
// scanner.scratch[vstart:vend] if decoded, else scanner.buf[vstart:vend].
type attr struct {
	name         qname
	vstart, vend int
	decoded      bool
}

// openElem is an element whose end tag is still to come.
type openElem struct {
	name  qname
	binds int // the number of declarations in scope before the element's
}

// prefix returns n's prefix, nil if it has none.
func (s *scanner) prefix(n qname) []byte {
	if n.local == n.start {
		return nil
	}
	return s.buf[n.start : n.local-1]
}

// local returns n's local name.
func (s *scanner) local(n qname) []byte { return s.buf[n.local:n.end] }

// value returns a's value.
func (s *scanner) value(a attr) []byte {
	if a.decoded {
		return s.scratch[a.vstart:a.vend]
	}
	return s.buf[a.vstart:a.vend]
}

// next advances to the next token. At the end of the input it returns
// tokEOF if no element is open and an ErrSyntax error otherwise. Errors wrap
// ErrSyntax, ErrTooDeep or ErrDTD.
func (s *scanner) next() (token, error) {
	if s.selfClose {
		s.selfClose = false
		s.pop()
		return tokEnd, nil
	}
	for {
		if s.pos >= len(s.buf) {
			if len(s.open) > 0 {
				return 0, s.errEOF()
			}
			return tokEOF, nil
		}
		if s.buf[s.pos] != '<' {
			return tokText, s.charData()
		}
		if s.pos+1 >= len(s.buf) {
			return 0, s.errEOF()
		}
		switch s.buf[s.pos+1] {
		case '/':
			return tokEnd, s.endTag()
		case '?':
			if err := s.procInst(); err != nil {
				return 0, err
			}
			continue
		case '!':
			text, err := s.bang()
			if err != nil {
				return 0, err
			}
			if text {
				return tokText, nil
			}
			continue
		}
		return tokStart, s.startTag()
	}
}

// attr returns the value of the first attribute with the local name local
// and no namespace, or nil.
func (s *scanner) attr(local string) []byte {
	for _, a := range s.attrs {
		if string(s.local(a.name)) == local && s.attrUnqualified(s.prefix(a.name)) {
			return s.value(a)
		}
	}
	return nil
}

// startTag scans "<name attr='value' ...>" or "/>" at s.pos, then applies
// its namespace declarations.
func (s *scanner) startTag() error {
	name, p, err := s.nsName(s.pos+1, "element")
	if err != nil {
		return err
	}
	s.attrs = s.attrs[:0]
	s.scratch = s.scratch[:0]
	for {
		p = s.skipSpace(p)
		if p >= len(s.buf) {
			return s.errEOF()
		}
		if c := s.buf[p]; c == '>' || c == '/' {
			if c == '/' {
				if p+1 >= len(s.buf) {
					return s.errEOF()
				}
				if s.buf[p+1] != '>' {
					return s.errAt(p, "expected /> in element")
				}
				s.selfClose = true
				p++
			}
			s.pos = p + 1
			break
		}
		if p, err = s.attribute(p); err != nil {
			return err
		}
	}
	s.push(name)
	s.elem = elemName{space: s.resolve(name), local: s.local(name)}
	if len(s.open) > MaxDepth {
		return fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
	}
	return nil
}

// attribute scans name="value" at p, appends it to s.attrs and returns
// the position after it.
func (s *scanner) attribute(p int) (int, error) {
	name, p, err := s.nsName(p, "attribute")
	if err != nil {
		return 0, err
	}
	p = s.skipSpace(p)
	if p >= len(s.buf) {
		return 0, s.errEOF()
	}
	if s.buf[p] != '=' {
		return 0, s.errAt(p, "attribute name without = in element")
	}
	p = s.skipSpace(p + 1)
	if p >= len(s.buf) {
		return 0, s.errEOF()
	}
	q := s.buf[p]
	if q != '"' && q != '\'' {
		return 0, s.errAt(p, "unquoted or missing attribute value")
	}
	value, decoded, end, err := s.scanText(p+1, q)
	if err != nil {
		return 0, err
	}
	a := attr{name: name, vstart: p + 1, vend: p + 1 + len(value), decoded: decoded}
	if decoded {
		a.vstart, a.vend = len(s.scratch)-len(value), len(s.scratch)
	}
	s.attrs = append(s.attrs, a)
	return end, nil
}

// endTag scans "</name>" at s.pos and closes the open element it names.
func (s *scanner) endTag() error {
	name, p, err := s.nsName(s.pos+2, "element")
	if err != nil {
		return err
	}
	local := s.local(name)
	p = s.skipSpace(p)
	if p >= len(s.buf) {
		return s.errEOF()
	}
	if s.buf[p] != '>' {
		return s.errAt(p, "invalid characters between </"+string(local)+" and >")
	}
	s.pos = p + 1
	if len(s.open) == 0 {
		return s.errAt(p, "unexpected end element </"+string(local)+">")
	}
	// Like encoding/xml, compare the names as written: the prefix, not
	// the namespace it stands for.
	top := s.open[len(s.open)-1].name
	if !bytes.Equal(s.buf[top.start:top.end], s.buf[name.start:name.end]) {
		return s.errAt(p, "element <"+string(s.local(top))+"> closed by </"+string(local)+">")
	}
	s.pop()
	return nil
}

// skipSpace returns the position of the first non-space byte at or after p.
func (s *scanner) skipSpace(p int) int {
	for p < len(s.buf) {
		switch s.buf[p] {
		case ' ', '\t', '\r', '\n':
			p++
		default:
			return p
		}
	}
	return p
}

// errEOF is the error for a document that ends inside a token or element.
func (s *scanner) errEOF() error {
	return fmt.Errorf("%w: unexpected end of document", ErrSyntax)
}

// errAt is a syntax error at byte offset p.
func (s *scanner) errAt(p int, msg string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrSyntax, msg, p)
}

// validChar reports whether r may appear in an XML document (the Char
// production of XML 1.0 §2.2).
func validChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= utf8.MaxRune
}
