package pidf

import (
	"bytes"
	"fmt"
	"sync"
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
// Only the five predefined entities and character references are known;
// any DOCTYPE or other markup declaration is refused, so neither external
// entities nor entity expansion can occur. The whole body is checked as
// XML up to the end of the root element, including elements that are
// skipped; what follows the root element is not read.
func Parse(body []byte) (Document, error) {
	if len(body) > MaxBodySize {
		return Document{}, fmt.Errorf("pidf: parse: %w: %d bytes, limit %d", ErrTooLarge, len(body), MaxBodySize)
	}
	p := parsers.Get().(*parser)
	p.reset(body)
	doc, err := p.document()
	p.release()
	parsers.Put(p)
	if err != nil {
		return Document{}, fmt.Errorf("pidf: parse: %w", err)
	}
	return doc, nil
}

// parser reads a Document from the scanner's tokens.
type parser struct {
	s    scanner
	text []byte // the text being collected by readText

	// Room for what a typical document needs, reused through parsers.
	openBuf    [MaxDepth + 1]openElem
	bindBuf    [16]binding
	attrBuf    [16]attr
	scratchBuf [512]byte
	textBuf    [512]byte
}

// parsers recycles parsers, and so their buffers, between calls of Parse.
var parsers = sync.Pool{New: func() any { return new(parser) }}

// reset prepares p for parsing body.
func (p *parser) reset(body []byte) {
	p.s = scanner{
		buf:     body,
		open:    p.openBuf[:0],
		ns:      namespaces{binds: p.bindBuf[:0]},
		attrs:   p.attrBuf[:0],
		scratch: p.scratchBuf[:0],
	}
	p.text = p.textBuf[:0]
}

// release drops what p refers to outside itself: the body, and buffers
// that outgrew the fixed ones. (The fixed ones hold positions and copied
// bytes only, so a pooled parser keeps no body alive.)
func (p *parser) release() {
	p.s = scanner{}
	p.text = nil
}

// document reads the prolog and the root element.
func (p *parser) document() (Document, error) {
	for {
		tok, err := p.s.next()
		if err != nil {
			return Document{}, err
		}
		switch tok {
		case tokEOF:
			return Document{}, fmt.Errorf("%w: no root element", ErrNotPIDF)
		case tokStart:
			if !p.s.elem.is("presence", nsPIDF) {
				return Document{}, fmt.Errorf("%w: root element %q", ErrNotPIDF, p.s.elem.local)
			}
			doc := Document{Entity: p.attr("entity")}
			if err := p.presence(&doc); err != nil {
				return Document{}, err
			}
			return doc, nil
		}
		// The prolog: text (such as white space) before the root.
	}
}

// child advances to the next child element of the current element and
// reports whether there is one; false means its end tag was read. Text is
// skipped.
func (p *parser) child() (bool, error) {
	for {
		tok, err := p.s.next()
		if err != nil {
			return false, err
		}
		switch tok {
		case tokStart:
			return true, nil
		case tokEnd:
			return false, nil
		case tokEOF:
			return false, fmt.Errorf("%w: unexpected end of document", ErrSyntax)
		}
	}
}

// skip consumes the current element and everything inside it.
func (p *parser) skip() error {
	for depth := 1; depth > 0; {
		tok, err := p.s.next()
		if err != nil {
			return err
		}
		switch tok {
		case tokStart:
			depth++
		case tokEnd:
			depth--
		case tokEOF:
			return fmt.Errorf("%w: unexpected end of document", ErrSyntax)
		}
	}
	return nil
}

// readText consumes the current element and returns the character data
// directly inside it, trimmed and cut to limit bytes at a UTF-8 boundary;
// child elements are skipped. At most 2*limit+64 bytes are collected (cut
// at a UTF-8 boundary), a margin so that trimming leading white space
// rarely makes the result shorter than limit. The result is valid until
// the next call.
func (p *parser) readText(limit int) ([]byte, error) {
	p.text = p.text[:0]
	room, full := 2*limit+64, false
	for {
		tok, err := p.s.next()
		if err != nil {
			return nil, err
		}
		switch tok {
		case tokText:
			if full {
				continue
			}
			data := p.s.text
			if len(data) > room-len(p.text) {
				n := room - len(p.text)
				for n > 0 && !utf8.RuneStart(data[n]) {
					n--
				}
				data, full = data[:n], true
			}
			p.text = append(p.text, data...)
		case tokStart:
			if err := p.skip(); err != nil {
				return nil, err
			}
		case tokEnd:
			return truncateBytes(bytes.TrimSpace(p.text), limit), nil
		case tokEOF:
			return nil, fmt.Errorf("%w: unexpected end of document", ErrSyntax)
		}
	}
}

// textString is readText as a string, for values kept in the Document.
func (p *parser) textString(limit int) (string, error) {
	b, err := p.readText(limit)
	return string(b), err
}

// attr returns the current start tag's unqualified attribute local,
// trimmed and cut to MaxTokenBytes.
func (p *parser) attr(local string) string {
	return string(p.attrBytes(local))
}

// attrBytes is attr before the conversion to string; the result is valid
// until the next token.
func (p *parser) attrBytes(local string) []byte {
	return truncateBytes(bytes.TrimSpace(p.s.attr(local)), MaxTokenBytes)
}
