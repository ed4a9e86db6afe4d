package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Bounds of one SIP message read by the notify scenario's SIP server.
const (
	sipMaxHeaderBytes = 64 << 10
	sipMaxBodyBytes   = 64 << 10
	sipMaxHeaders     = 128
)

// errSIPFraming is a stream that cannot be split into SIP messages: there
// is no message boundary to resynchronise on, so the connection ends.
var errSIPFraming = errors.New("sip framing")

// sipHeader is one header field of a sipMessage: its canonical name
// (compact forms expanded) and value, both slices of the message buffer.
type sipHeader struct {
	name, value []byte
}

// sipMessage is one SIP message read from a stream (RFC 3261 §7, §18.3):
// its start line split into three parts, its header fields in order and
// its body. Every slice points into m's buffers, which the next read
// reuses.
type sipMessage struct {
	// A request's method, Request-URI and version; a response's version,
	// status code and reason phrase.
	start   [3][]byte
	headers []sipHeader
	body    []byte
	buf     []byte // start line and header fields
	bodyBuf []byte // reused for bodies
}

// isResponse reports whether m is a response.
func (m *sipMessage) isResponse() bool { return bytes.HasPrefix(m.start[0], []byte("SIP/")) }

// status returns a response's status code, or 0 when it has none.
func (m *sipMessage) status() int {
	n, err := strconv.Atoi(string(m.start[1]))
	if err != nil || n < 100 || n > 699 {
		return 0
	}
	return n
}

// header returns the value of the first header called name (canonical,
// case-insensitive), or nil.
func (m *sipMessage) header(name string) []byte {
	for _, h := range m.headers {
		if bytes.EqualFold(h.name, []byte(name)) {
			return h.value
		}
	}
	return nil
}

// sipCompact maps the compact header names of RFC 3261 §7.3.3 (and RFC
// 6665's o, u) to their full names.
var sipCompact = map[byte]string{
	'i': "Call-ID", 'm': "Contact", 'e': "Content-Encoding", 'l': "Content-Length",
	'c': "Content-Type", 'f': "From", 's': "Subject", 'k': "Supported", 't': "To",
	'v': "Via", 'o': "Event", 'u': "Allow-Events",
}

// readSIPMessage reads the next message from br into m: CRLF keep-alives
// before it are skipped, the header ends at an empty line and the body
// is Content-Length bytes (required on a stream, RFC 3261 §18.3). Folded
// header lines are joined. A malformed stream gives an error wrapping
// errSIPFraming; the end of the stream between messages gives io.EOF.
func readSIPMessage(br *bufio.Reader, m *sipMessage) error {
	m.buf, m.headers, m.body = m.buf[:0], m.headers[:0], nil
	type span struct{ name, value [2]int }
	var spans [sipMaxHeaders]span
	nspans := 0
	var startEnd int
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return fmt.Errorf("%w: header line longer than %d bytes", errSIPFraming, br.Size())
			}
			if errors.Is(err, io.EOF) && first && len(m.buf) == 0 && len(line) == 0 {
				return io.EOF
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: stream ended inside a message: %w", errSIPFraming, io.ErrUnexpectedEOF)
			}
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if first {
			if len(line) == 0 {
				continue // keep-alive CRLF between messages (RFC 5626 §3.5.1)
			}
			first = false
			m.buf = append(m.buf, line...)
			startEnd = len(m.buf)
			continue
		}
		if len(line) == 0 {
			break
		}
		if len(m.buf)+len(line) > sipMaxHeaderBytes {
			return fmt.Errorf("%w: header longer than %d bytes", errSIPFraming, sipMaxHeaderBytes)
		}
		if line[0] == ' ' || line[0] == '\t' { // folded onto the previous field
			if nspans == 0 {
				return fmt.Errorf("%w: continuation line before any header", errSIPFraming)
			}
			m.buf = append(m.buf, ' ')
			m.buf = append(m.buf, bytes.TrimLeft(line, " \t")...)
			spans[nspans-1].value[1] = len(m.buf)
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return fmt.Errorf("%w: header line without a name: %q", errSIPFraming, truncate(line))
		}
		if nspans == sipMaxHeaders {
			return fmt.Errorf("%w: more than %d header fields", errSIPFraming, sipMaxHeaders)
		}
		name := bytes.TrimRight(line[:colon], " \t")
		value := bytes.TrimLeft(line[colon+1:], " \t")
		var s span
		s.name[0] = len(m.buf)
		if len(name) == 1 && sipCompact[lower(name[0])] != "" {
			m.buf = append(m.buf, sipCompact[lower(name[0])]...)
		} else {
			m.buf = append(m.buf, name...)
		}
		s.name[1] = len(m.buf)
		s.value[0] = len(m.buf)
		m.buf = append(m.buf, value...)
		s.value[1] = len(m.buf)
		spans[nspans] = s
		nspans++
	}
	for _, s := range spans[:nspans] {
		m.headers = append(m.headers, sipHeader{
			name:  bytes.TrimRight(m.buf[s.name[0]:s.name[1]], " \t"),
			value: bytes.TrimRight(m.buf[s.value[0]:s.value[1]], " \t"),
		})
	}
	if err := m.splitStart(m.buf[:startEnd]); err != nil {
		return err
	}
	return m.readBody(br)
}

// splitStart splits the start line into its three parts.
func (m *sipMessage) splitStart(line []byte) error {
	a, rest, ok1 := bytes.Cut(line, []byte(" "))
	b, c, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 || len(a) == 0 || len(b) == 0 {
		return fmt.Errorf("%w: bad start line %q", errSIPFraming, truncate(line))
	}
	m.start = [3][]byte{a, b, c}
	if m.isResponse() {
		if m.status() == 0 {
			return fmt.Errorf("%w: bad status line %q", errSIPFraming, truncate(line))
		}
	} else if !bytes.Equal(c, []byte("SIP/2.0")) {
		return fmt.Errorf("%w: bad request line %q", errSIPFraming, truncate(line))
	}
	return nil
}

// readBody reads the Content-Length bytes of the body.
func (m *sipMessage) readBody(br *bufio.Reader) error {
	cl := m.header("Content-Length")
	if cl == nil {
		return fmt.Errorf("%w: no Content-Length on a stream", errSIPFraming)
	}
	n, err := strconv.Atoi(string(cl))
	if err != nil || n < 0 {
		return fmt.Errorf("%w: bad Content-Length %q", errSIPFraming, truncate(cl))
	}
	if n > sipMaxBodyBytes {
		return fmt.Errorf("%w: body of %d bytes, more than %d", errSIPFraming, n, sipMaxBodyBytes)
	}
	if n == 0 {
		return nil
	}
	if cap(m.bodyBuf) < n {
		m.bodyBuf = make([]byte, n)
	}
	m.body = m.bodyBuf[:n]
	if _, err := io.ReadFull(br, m.body); err != nil {
		return fmt.Errorf("%w: body: %w", errSIPFraming, err)
	}
	return nil
}

// sipParam returns the value of parameter name (case-insensitive) of a
// header value such as `<sip:a@b;x=y>;tag=abc;expires=5` or
// `SIP/2.0/TCP h:p;branch=z9hG4bK1`: parameters inside angle brackets
// belong to the URI and are not looked at. It reports whether the
// parameter is present.
func sipParam(value []byte, name string) ([]byte, bool) {
	if i := bytes.LastIndexByte(value, '>'); i >= 0 {
		value = value[i+1:]
	}
	for len(value) > 0 {
		i := bytes.IndexByte(value, ';')
		if i < 0 {
			return nil, false
		}
		value = value[i+1:]
		p := value
		if j := bytes.IndexAny(p, ";,"); j >= 0 {
			p = p[:j]
		}
		k, v, _ := bytes.Cut(p, []byte("="))
		if bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
			return bytes.TrimSpace(v), true
		}
	}
	return nil, false
}

// sipAddrURI returns the URI of a name-addr or addr-spec header value:
// what is inside the angle brackets, or the value up to its first
// parameter.
func sipAddrURI(value []byte) []byte {
	if i := bytes.IndexByte(value, '<'); i >= 0 {
		if j := bytes.IndexByte(value[i:], '>'); j > 0 {
			return value[i+1 : i+j]
		}
		return nil
	}
	if i := bytes.IndexByte(value, ';'); i >= 0 {
		value = value[:i]
	}
	return bytes.TrimSpace(value)
}

// sipCSeq splits a CSeq value into its number and method.
func sipCSeq(value []byte) (uint32, []byte, bool) {
	num, method, ok := bytes.Cut(bytes.TrimSpace(value), []byte(" "))
	n, err := strconv.ParseUint(string(num), 10, 32)
	if !ok || err != nil {
		return 0, nil, false
	}
	return uint32(n), bytes.TrimSpace(method), true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// truncate shortens b for an error message.
func truncate(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}
