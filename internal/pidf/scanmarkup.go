package pidf

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// nsName scans a name at p and splits it at its colon into prefix and
// local name; what says what the name is for in errors. As in
// encoding/xml, a name with more than one colon is an error, and a colon
// at either end does not split.
func (s *scanner) nsName(p int, what string) (qname, int, error) {
	name, colon, end, err := s.name(p, what)
	switch {
	case err != nil:
		return qname{}, 0, err
	case colon == len(name):
		return qname{}, 0, s.errAt(p, "invalid "+what+" name "+strconv.Quote(string(name)))
	case colon <= 0 || colon == len(name)-1:
		return qname{start: p, local: p, end: end}, end, nil
	}
	return qname{start: p, local: p + colon + 1, end: end}, end, nil
}

// Classes of the bytes that may appear in a name.
const (
	nameASCII = 1 << iota // an ASCII name character
	nameColon             // ':'
	nameHigh              // a byte of a non-ASCII character
)

// nameClass classifies bytes for name scanning; 0 ends a name.
var nameClass = func() (c [256]uint8) {
	for b := range 128 {
		if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '.' || b == '-' {
			c[b] = nameASCII
		}
	}
	c[':'] = nameASCII | nameColon
	for b := 128; b < 256; b++ {
		c[b] = nameHigh
	}
	return c
}()

// name scans an XML name at p and returns it, the index of its colon
// (-1 if none, len(name) if more than one) and the position after it.
// Like encoding/xml it takes every byte that is an ASCII name character or
// not ASCII, then checks the whole name: an ASCII name must not start with
// a digit, '.' or '-'. Names with other characters are rare in presence
// documents; for them encoding/xml's own tables decide, so that both
// parsers agree.
func (s *scanner) name(p int, what string) (name []byte, colon, end int, err error) {
	start, colon, colons := p, -1, 0
	var seen uint8
	for ; p < len(s.buf); p++ {
		c := nameClass[s.buf[p]]
		if c == 0 {
			break
		}
		if c&nameColon != 0 {
			if colons == 0 {
				colon = p - start
			}
			colons++
		}
		seen |= c
	}
	if p >= len(s.buf) {
		return nil, 0, 0, s.errEOF()
	}
	name = s.buf[start:p]
	if len(name) == 0 {
		return nil, 0, 0, s.errAt(p, "expected "+what+" name")
	}
	if seen&nameHigh != 0 && !s.names.isName(name) ||
		seen&nameHigh == 0 && !isNameStart(name[0]) {
		return nil, 0, 0, s.errAt(start, "invalid XML name "+strconv.Quote(string(name)))
	}
	if colons > 1 {
		colon = len(name)
	}
	return name, colon, p, nil
}

// isNameStart reports whether an ASCII name byte may start a name.
func isNameStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == ':'
}

// nameChecker asks encoding/xml whether a name with non-ASCII
// characters is an XML name, so that both parsers agree without a copy of
// its Unicode tables. One decoder serves a whole document: each name is
// fed to it as an empty element "<name/>", with colons made '_' (both may
// appear anywhere in a name) so that namespace splitting cannot interfere.
type nameChecker struct {
	in  bytes.Buffer
	dec *xml.Decoder
}

// isName reports whether b, made of name bytes, is an XML name.
func (c *nameChecker) isName(b []byte) bool {
	if c.dec == nil {
		c.dec = xml.NewDecoder(&c.in)
	}
	c.in.WriteByte('<')
	for _, x := range b {
		if x == ':' {
			x = '_'
		}
		c.in.WriteByte(x)
	}
	c.in.WriteString("/>")
	tok, err := c.dec.RawToken()
	if _, ok := tok.(xml.StartElement); !ok || err != nil {
		c.in.Reset()
		c.dec = nil // a decoder that failed stays failed
		return false
	}
	c.dec.RawToken() // the end half of <name/>, read from no input
	return true
}

// procInst skips the processing instruction at s.pos. The XML declaration
// (target "xml", wherever it appears, as encoding/xml reads it) is checked:
// version 1.0 only, and an encoding of UTF-8, US-ASCII or ISO-8859-1.
func (s *scanner) procInst() error {
	target, _, p, err := s.name(s.pos+2, "processing instruction target")
	if err != nil {
		return err
	}
	p = s.skipSpace(p)
	n := bytes.Index(s.buf[p:], []byte("?>"))
	if n < 0 {
		return s.errEOF()
	}
	content := s.buf[p : p+n]
	s.pos = p + n + 2
	if string(target) != "xml" {
		return nil
	}
	if v := declParam(content, "version="); len(v) > 0 && string(v) != "1.0" {
		return s.errAt(p, "unsupported XML version "+strconv.Quote(string(v)))
	}
	return s.setEncoding(declParam(content, "encoding="))
}

// declParam returns the value of key (name and '=') in an XML declaration,
// read as encoding/xml reads it: the first key directly followed by a
// quote, up to the next such quote; empty when there is none.
func declParam(decl []byte, key string) []byte {
	for i := 0; ; {
		k := bytes.Index(decl[i:], []byte(key))
		if k < 0 {
			return nil
		}
		q := i + k + len(key)
		if q >= len(decl) {
			return nil
		}
		i = q + 1
		if c := decl[q]; c == '"' || c == '\'' {
			n := bytes.IndexByte(decl[i:], c)
			if n < 0 {
				return nil
			}
			return decl[i : i+n]
		}
	}
}

// setEncoding applies an encoding declaration to the rest of the input:
// UTF-8 and US-ASCII need nothing; ISO-8859-1 input is converted to UTF-8
// (at most MaxBodySize bytes of it, as before); others are refused. Only
// one declaration of an encoding other than UTF-8 is accepted: each would
// convert the rest of the body again.
func (s *scanner) setEncoding(label []byte) error {
	if len(label) == 0 || bytes.EqualFold(label, []byte("utf-8")) {
		return nil
	}
	if s.encoded {
		return fmt.Errorf("%w: more than one encoding declaration", ErrSyntax)
	}
	s.encoded = true
	switch strings.ToLower(string(label)) {
	case "us-ascii", "ascii":
		return nil
	case "iso-8859-1", "latin1", "latin-1", "iso8859-1":
		// What was read stays where it was: positions into it stay valid.
		rest := s.buf[s.pos:]
		rest = rest[:min(len(rest), MaxBodySize)]
		out := make([]byte, 0, s.pos+len(rest)+len(rest)/8)
		out = append(out, s.buf[:s.pos]...)
		for _, c := range rest {
			out = utf8.AppendRune(out, rune(c))
		}
		s.buf = out
		return nil
	}
	return fmt.Errorf("%w: unsupported charset %s", ErrSyntax, strconv.Quote(truncate(string(label), 32)))
}

// directive reads a markup declaration (<!DOCTYPE ...>, <!ENTITY ...>)
// whose first byte after "<!" is at p-1. A complete one is ErrDTD. To tell
// a complete one from a truncated one (ErrSyntax) the way encoding/xml
// does, it follows quotes, nested '<' ... '>' and comments.
func (s *scanner) directive(p int) error {
	start := p - 1
	var quote byte
	depth := 0
	for p < len(s.buf) {
		c := s.buf[p]
		p++
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			if depth == 0 {
				return fmt.Errorf("%w: <!%.20s", ErrDTD, s.buf[start:p])
			}
			depth--
		case c == '<':
			if bytes.HasPrefix(s.buf[p:], []byte("!--")) {
				n := bytes.Index(s.buf[p+3:], []byte("-->"))
				if n < 0 {
					return s.errEOF()
				}
				p += 3 + n + 3
				continue
			}
			// encoding/xml reads the bytes of "!--" that match and goes
			// on with the first that does not.
			depth++
			for _, m := range []byte("!-") {
				if p >= len(s.buf) || s.buf[p] != m {
					break
				}
				p++
			}
		}
	}
	return s.errEOF()
}
