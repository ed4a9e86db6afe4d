package kamailiotest

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// maxMessage bounds a SIP message read from Kamailio.
const maxMessage = 1 << 20

// message is a SIP request or response read off a stream, framed by
// Content-Length as RFC 3261 section 18.3 requires for TCP.
type message struct {
	StartLine string
	Header    textproto.MIMEHeader
	Body      string
}

// isResponse reports whether m is a response.
func (m message) isResponse() bool { return strings.HasPrefix(m.StartLine, "SIP/2.0 ") }

// status returns the status code of a response, or 0 for a request.
func (m message) status() int {
	if !m.isResponse() {
		return 0
	}
	code, _ := strconv.Atoi(strings.SplitN(m.StartLine, " ", 3)[1])
	return code
}

// method returns the method of a request, or "" for a response.
func (m message) method() string {
	if m.isResponse() {
		return ""
	}
	return strings.SplitN(m.StartLine, " ", 2)[0]
}

// compactHeaders maps RFC 3261 compact header forms to their full names.
var compactHeaders = map[string]string{
	"I": "Call-Id", "M": "Contact", "L": "Content-Length", "C": "Content-Type",
	"E": "Content-Encoding", "F": "From", "S": "Subject", "K": "Supported",
	"T": "To", "V": "Via", "O": "Event", "U": "Allow-Events",
}

// readMessage reads one SIP message, skipping CRLF keep-alives between
// messages. Header names are canonicalised by net/textproto (so Call-ID is
// "Call-Id") and compact forms are expanded.
func readMessage(r *bufio.Reader) (message, error) {
	tp := textproto.NewReader(r)
	var start string
	for start == "" {
		line, err := tp.ReadLine()
		if err != nil {
			return message{}, fmt.Errorf("read start line: %w", err)
		}
		start = strings.TrimSpace(line)
	}
	raw, err := tp.ReadMIMEHeader()
	if err != nil && len(raw) == 0 {
		return message{}, fmt.Errorf("read header of %q: %w", start, err)
	}
	h := make(textproto.MIMEHeader, len(raw))
	for k, vs := range raw {
		if full, ok := compactHeaders[k]; ok {
			k = full
		}
		h[k] = append(h[k], vs...)
	}
	n := 0
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err = strconv.Atoi(strings.TrimSpace(cl)); err != nil || n < 0 || n > maxMessage {
			return message{}, fmt.Errorf("bad Content-Length %q in %q", cl, start)
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return message{}, fmt.Errorf("read body of %q: %w", start, err)
	}
	return message{StartLine: start, Header: h, Body: string(body)}, nil
}

// randomToken returns a random hex string for tags, branches and Call-IDs.
func randomToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

// ping sends an OPTIONS request over a new TCP connection to addr and
// returns nil if the answer is 200.
func ping(addr string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return fmt.Errorf("ping %s: %w", addr, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("ping %s: %w", addr, err)
	}
	return options(conn, "TCP")
}

// options sends an OPTIONS request over conn, whose Via transport is
// transport (TCP or TLS), and returns nil if the answer is 200. The caller
// sets deadlines.
func options(conn net.Conn, transport string) error {
	addr, local := conn.RemoteAddr().String(), conn.LocalAddr().String()
	req := "OPTIONS sip:" + addr + ";transport=" + strings.ToLower(transport) + " SIP/2.0\r\n" +
		"Via: SIP/2.0/" + transport + " " + local + ";branch=z9hG4bK" + randomToken() + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:kamailiotest@" + local + ">;tag=" + randomToken() + "\r\n" +
		"To: <sip:" + addr + ">\r\n" +
		"Call-ID: " + randomToken() + "@kamailiotest\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return fmt.Errorf("options %s: write: %w", addr, err)
	}
	resp, err := readMessage(bufio.NewReader(conn))
	if err != nil {
		return fmt.Errorf("options %s: %w", addr, err)
	}
	if resp.status() != 200 {
		return fmt.Errorf("options %s: got %q", addr, resp.StartLine)
	}
	return nil
}
