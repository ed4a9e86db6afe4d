// Package xmlstream reads a long-lived XML stream, such as an XMPP stream
// (RFC 6120), one token at a time with encoding/xml while keeping the raw
// bytes of the current top-level element, so that a caller can hand an
// element on exactly as it was received. The bytes kept are bounded by a
// limit, which bounds the decoder's memory too.
//
// A Reader is not safe for concurrent use.
package xmlstream

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
)

// ErrTooLarge reports that more bytes than the Reader's limit were read
// since the last Mark.
var ErrTooLarge = errors.New("xmlstream: element too large")

// Reader decodes an XML stream and records the bytes read since the last
// Mark.
type Reader struct {
	rec *recorder
	dec *xml.Decoder
}

// NewReader returns a Reader of r that holds at most limit bytes since
// the last Mark. The decoder is strict (well-formed XML only).
func NewReader(r io.Reader, limit int) *Reader {
	rec := &recorder{r: bufio.NewReaderSize(r, 4096), limit: limit}
	dec := xml.NewDecoder(rec)
	dec.Strict = true
	return &Reader{rec: rec, dec: dec}
}

// Mark forgets the bytes read before the decoder's current offset and
// returns that offset, from which a later Bytes can cut an element out.
// Called before reading a top-level token, it restarts the limit there.
func (r *Reader) Mark() int64 {
	off := r.dec.InputOffset()
	r.rec.discard(off)
	return off
}

// Token returns the next token, valid until the next call (see
// xml.Decoder.Token; xml.CopyToken keeps one). Its error is the source's
// when reading the source failed (io.EOF when the input ended, even
// inside an element, where encoding/xml reports a syntax error instead),
// ErrTooLarge when the limit was reached, and otherwise the decoder's
// (an *xml.SyntaxError for input that is not well-formed).
func (r *Reader) Token() (xml.Token, error) {
	tok, err := r.dec.Token()
	if err == nil {
		return tok, nil
	}
	if r.rec.err != nil {
		return nil, r.rec.err
	}
	return nil, err
}

// Element reads up to the end of the element whose start tag Token
// returned last, passing every token after it, the matching end tag
// included, to each (when not nil). The tokens are valid only during the
// call. An error of each ends the read and is returned as is; the others
// are Token's.
func (r *Reader) Element(each func(xml.Token) error) error {
	for depth := 1; depth > 0; {
		tok, err := r.Token()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
		if each != nil {
			if err := each(tok); err != nil {
				return err
			}
		}
	}
	return nil
}

// Bytes returns a copy of the bytes from stream offset from, which must
// not precede the last Mark, to the current offset.
func (r *Reader) Bytes(from int64) []byte {
	return r.rec.slice(from, r.dec.InputOffset())
}

// recorder is the decoder's byte source. encoding/xml reads an
// io.ByteReader byte by byte without a buffer of its own, so the recorder
// holds exactly the bytes the decoder has consumed since the last
// discard, and the decoder's InputOffset indexes them.
type recorder struct {
	r     *bufio.Reader
	buf   []byte // bytes consumed since base
	base  int64  // stream offset of buf[0]
	limit int    // the most bytes buf may hold
	err   error  // the first error of r, which the decoder may hide
}

// ReadByte implements io.ByteReader. It returns ErrTooLarge rather than
// hold more than limit bytes.
func (r *recorder) ReadByte() (byte, error) {
	if len(r.buf) >= r.limit {
		return 0, ErrTooLarge
	}
	b, err := r.r.ReadByte()
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		return 0, err
	}
	r.buf = append(r.buf, b)
	return b, nil
}

// Read implements io.Reader, which xml.NewDecoder requires; the decoder
// calls only ReadByte.
func (r *recorder) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	p[0] = b
	return 1, nil
}

// discard forgets the bytes before stream offset off.
func (r *recorder) discard(off int64) {
	n := int(min(max(off-r.base, 0), int64(len(r.buf))))
	rest := copy(r.buf, r.buf[n:])
	r.buf = r.buf[:rest]
	r.base += int64(n)
}

// slice returns a copy of the bytes between stream offsets from and to.
func (r *recorder) slice(from, to int64) []byte {
	return bytes.Clone(r.buf[from-r.base : to-r.base])
}
