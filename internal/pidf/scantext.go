package pidf

import (
	"bytes"
	"unicode/utf8"
)

// byteClass marks the bytes that text scanning must look at; all others
// are copied as they are.
var byteClass = func() (c [256]bool) {
	for b := 0; b < 0x20; b++ {
		c[b] = b != '\t' && b != '\n' // \r is normalised, the rest illegal
	}
	for b := 0x80; b < 0x100; b++ {
		c[b] = true // validated as UTF-8
	}
	for _, b := range []byte{'&', '<', '>', '"', '\''} {
		c[b] = true
	}
	return c
}()

// charData scans character data at s.pos up to the next '<' or the end
// of the input into s.text.
func (s *scanner) charData() error {
	s.scratch = s.scratch[:0]
	text, _, p, err := s.scanText(s.pos, 0)
	s.text, s.pos = text, p
	return err
}

// scanText scans text from p: character data when quote is 0, else an
// attribute value ending at quote. It decodes references, turns \r\n and
// \r into \n, checks that every character is a valid XML Char, and returns
// the text (a slice of the input when nothing needed decoding, else the
// end of s.scratch, and then decoded is set) and the position after it
// (after the quote).
func (s *scanner) scanText(p int, quote byte) (text []byte, decoded bool, end int, err error) {
	buf := s.buf
	start := p
	from := p    // start of the input not yet copied to s.scratch
	segment := p // start of the text after the last reference
	base := -1   // where the decoded text starts in s.scratch; -1: not decoding
	for p < len(buf) {
		c := buf[p]
		if !byteClass[c] {
			p++
			continue
		}
		switch {
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(buf[p:])
			if r == utf8.RuneError && n == 1 {
				return nil, false, 0, s.errAt(p, "invalid UTF-8")
			}
			if !validChar(r) {
				return nil, false, 0, s.errAt(p, "illegal character")
			}
			p += n
			continue
		case c == '<':
			if quote != 0 {
				return nil, false, 0, s.errAt(p, "unescaped < inside quoted string")
			}
		case c == quote && quote != 0:
		case c == '"' || c == '\'':
			p++
			continue
		case c == '>':
			// Like encoding/xml, refuse "]]>" in character data unless
			// a reference splits it.
			if quote == 0 && p-2 >= segment && buf[p-1] == ']' && buf[p-2] == ']' {
				return nil, false, 0, s.errAt(p, "unescaped ]]> not in CDATA section")
			}
			p++
			continue
		case c == '\r':
			if base < 0 {
				base = len(s.scratch)
			}
			s.scratch = append(append(s.scratch, buf[from:p]...), '\n')
			p++
			if p < len(buf) && buf[p] == '\n' {
				p++
			}
			from = p
			continue
		case c == '&':
			r, next, err := s.reference(p)
			if err != nil {
				return nil, false, 0, err
			}
			if base < 0 {
				base = len(s.scratch)
			}
			s.scratch = utf8.AppendRune(append(s.scratch, buf[from:p]...), r)
			p, from, segment = next, next, next
			continue
		default:
			return nil, false, 0, s.errAt(p, "illegal character")
		}
		break // '<' or the closing quote
	}
	end = p
	if quote != 0 {
		if p >= len(buf) {
			return nil, false, 0, s.errEOF()
		}
		end++ // after the closing quote
	}
	if base < 0 {
		return buf[start:p], false, end, nil
	}
	s.scratch = append(s.scratch, buf[from:p]...)
	return s.scratch[base:len(s.scratch):len(s.scratch)], true, end, nil
}

// predefined are the entities XML defines without a declaration, as
// written after '&'.
var predefined = [...]struct {
	name string
	r    rune
}{{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"apos;", '\''}, {"quot;", '"'}}

// reference decodes the entity or character reference at buf[p] == '&'
// and returns its character and the position after the ';'. As in
// encoding/xml, a reference to a surrogate gives U+FFFD, and x must be
// lower case.
func (s *scanner) reference(p int) (rune, int, error) {
	b := s.buf[p+1:]
	if len(b) == 0 || b[0] != '#' {
		for _, e := range predefined {
			if bytes.HasPrefix(b, []byte(e.name)) {
				return e.r, p + 1 + len(e.name), nil
			}
		}
		return 0, 0, s.errAt(p, "invalid character entity")
	}
	i, base := 1, rune(10)
	if len(b) > 1 && b[1] == 'x' {
		i, base = 2, 16
	}
	digits := i
	r := rune(0)
	for ; i < len(b); i++ {
		d := digitValue(b[i])
		if d >= base {
			break
		}
		r = min(r*base+d, utf8.MaxRune+1) // stays invalid once too large
	}
	if i == digits || i >= len(b) || b[i] != ';' || r > utf8.MaxRune {
		return 0, 0, s.errAt(p, "invalid character reference")
	}
	if r >= 0xD800 && r <= 0xDFFF {
		r = utf8.RuneError
	}
	if !validChar(r) {
		return 0, 0, s.errAt(p, "illegal character reference")
	}
	return r, p + 2 + i, nil
}

// digitValue returns the value of a hexadecimal digit, or 16.
func digitValue(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return rune(c-'A') + 10
	}
	return 16
}

// bang scans the markup at s.pos that starts with "<!": a comment
// (skipped), a CDATA section (text reports true, s.text holds it) or a
// markup declaration (ErrDTD once it is complete).
func (s *scanner) bang() (text bool, err error) {
	p := s.pos + 2
	if p >= len(s.buf) {
		return false, s.errEOF()
	}
	switch s.buf[p] {
	case '-':
		return false, s.comment(p + 1)
	case '[':
		return true, s.cdata(p + 1)
	}
	return false, s.directive(p + 1)
}

// comment skips a comment whose "<!-" ends before p. As XML requires,
// "--" may only appear as the end of the comment.
func (s *scanner) comment(p int) error {
	if p >= len(s.buf) {
		return s.errEOF()
	}
	if s.buf[p] != '-' {
		return s.errAt(p, "invalid sequence <!- not part of <!--")
	}
	i := bytes.Index(s.buf[p+1:], []byte("--"))
	if i < 0 || p+1+i+2 >= len(s.buf) {
		return s.errEOF()
	}
	end := p + 1 + i + 2
	if s.buf[end] != '>' {
		return s.errAt(end, `invalid sequence "--" not allowed in comments`)
	}
	s.pos = end + 1
	return nil
}

// cdata scans a CDATA section whose "<![" ends before p into s.text.
func (s *scanner) cdata(p int) error {
	const open = "CDATA["
	for i := 0; i < len(open); i++ {
		if p+i >= len(s.buf) {
			return s.errEOF()
		}
		if s.buf[p+i] != open[i] {
			return s.errAt(p, "invalid <![ sequence")
		}
	}
	p += len(open)
	n := bytes.Index(s.buf[p:], []byte("]]>"))
	if n < 0 {
		return s.errEOF()
	}
	data := s.buf[p : p+n]
	s.pos = p + n + 3
	if i := invalidChar(data); i >= 0 {
		return s.errAt(p+i, "illegal character or invalid UTF-8")
	}
	s.text = data
	if bytes.IndexByte(data, '\r') >= 0 {
		s.scratch = normalizeNewlines(s.scratch[:0], data)
		s.text = s.scratch
	}
	return nil
}

// invalidChar returns the index of the first byte of b that is not part of
// a valid XML Char in UTF-8, or -1.
func invalidChar(b []byte) int {
	for i := 0; i < len(b); {
		if c := b[i]; c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 || !validChar(r) {
			return i
		}
		i += n
	}
	return -1
}

// normalizeNewlines appends src to dst with \r\n and \r turned into \n
// (XML 1.0 §2.11).
func normalizeNewlines(dst, src []byte) []byte {
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '\r' {
			c = '\n'
			if i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
		}
		dst = append(dst, c)
	}
	return dst
}
