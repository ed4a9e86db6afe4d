package loadgen

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The xmpp scenario's server side: it plays the component port of an XMPP
// server (XEP-0114) for presenced's XMPP backend in component mode, grants
// the component XEP-0356 privileges, answers its pings (XEP-0199) and
// sends it users' presence stanzas.
const (
	nsComponentAccept = "jabber:component:accept"
	nsXMPPStreams     = "http://etherx.jabber.org/streams"
	nsStreamErrors    = "urn:ietf:params:xml:ns:xmpp-streams"
	nsStanzaErrors    = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsXMPPPing        = "urn:xmpp:ping"
	nsPrivilege       = "urn:xmpp:privilege:2"

	// xmppHandshakeTimeout bounds the stream header and handshake of a
	// new connection.
	xmppHandshakeTimeout = 10 * time.Second
	// xmppWriteStall is how long one write may block before the
	// connection counts as stalled and is closed.
	xmppWriteStall = 30 * time.Second
	// xmppMaxElement bounds what one top-level element from presenced
	// may make the tool read (roughly: the decoder reads ahead).
	xmppMaxElement  = 1 << 20
	xmppWriteBuffer = 64 << 10
)

// xmppOptions configure an xmppServer.
type xmppOptions struct {
	Listen    string // host:port; port 0 picks a free one
	Component string // the component address presenced must ask for
	Secret    string // the component secret; never logged
	Domain    string // the server's own domain: the privilege advertisement's sender
	JIDDomain string // the domain of the users' JIDs
	Run       string // the note prefix of this run's presences
}

// xmppCounts are what an xmppServer saw and sent.
type xmppCounts struct {
	connections   atomic.Int64 // accepted TCP connections
	authenticated atomic.Int64 // streams that passed the handshake
	refused       atomic.Int64 // streams refused: bad header, component or handshake
	badHandshake  atomic.Int64 // of those, a wrong handshake
	lost          atomic.Int64 // authenticated streams that ended before close

	// Top-level elements received from authenticated streams, by kind.
	pings, iqResults, iqRefused, presences, messages, other atomic.Uint64

	sentTotal atomic.Uint64 // presence stanzas sent, warm-up included
	sent      atomic.Uint64 // presence stanzas sent while measuring
}

// xmppSession is one authenticated component stream. Every write goes
// through bw under mu, one whole stanza at a time, so that the pings the
// reader answers never split a presence.
type xmppSession struct {
	c       net.Conn
	mu      sync.Mutex
	bw      *bufio.Writer // guarded by mu
	scratch []byte        // guarded by mu
	broken  bool          // guarded by mu: a write failed and c was closed
}

// stallWriter bounds every write to its connection by xmppWriteStall.
type stallWriter struct{ c net.Conn }

func (w stallWriter) Write(p []byte) (int, error) {
	_ = w.c.SetWriteDeadline(time.Now().Add(xmppWriteStall))
	return w.c.Write(p)
}

func newXMPPSession(c net.Conn) *xmppSession {
	return &xmppSession{c: c, bw: bufio.NewWriterSize(stallWriter{c}, xmppWriteBuffer)}
}

// write buffers b; flush sends it. After a failed write the session is
// broken and every later write fails.
func (s *xmppSession) write(b []byte, flush bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeLocked(b, flush)
}

func (s *xmppSession) writeLocked(b []byte, flush bool) error {
	if s.broken {
		return net.ErrClosed
	}
	_, err := s.bw.Write(b)
	if err == nil && flush {
		err = s.bw.Flush()
	}
	if err != nil {
		s.broken = true
		_ = s.c.Close() // the reader ends and reports the loss
	}
	return err
}

// flush sends what is buffered.
func (s *xmppSession) flush() error { return s.write(nil, true) }

// xmppServer accepts presenced's component connections, checks their
// handshake, advertises privileges, answers pings, and sends presence
// stanzas (sendPresences) over the latest authenticated stream. Its
// methods are safe for concurrent use; close stops its goroutines.
type xmppServer struct {
	ln     net.Listener
	opt    xmppOptions
	warn   func(format string, args ...any)
	counts xmppCounts

	measuring atomic.Bool            // presences sent while set are measured
	refusal   atomic.Pointer[string] // why the last stream was refused

	// next is the round-robin position of the presences; only
	// sendPresences uses it, one call at a time.
	next uint64

	mu      sync.Mutex
	current *xmppSession      // guarded by mu: the latest authenticated stream, nil when none
	conns   map[net.Conn]bool // guarded by mu
	closed  bool              // guarded by mu

	wg sync.WaitGroup
}

// listenXMPP starts an xmppServer. Warnings go to warn.
func listenXMPP(opt xmppOptions, warn func(string, ...any)) (*xmppServer, error) {
	ln, err := net.Listen("tcp", opt.Listen)
	if err != nil {
		return nil, fmt.Errorf("xmpp component listener: %w", err)
	}
	s := &xmppServer{ln: ln, opt: opt, warn: warn, conns: map[net.Conn]bool{}}
	s.wg.Go(s.acceptLoop)
	return s, nil
}

// addr returns the listening address.
func (s *xmppServer) addr() string { return s.ln.Addr().String() }

// close stops accepting, closes every connection and waits for the
// server's goroutines.
func (s *xmppServer) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	_ = s.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	s.wg.Wait()
}

func (s *xmppServer) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// session returns the latest authenticated stream, or nil.
func (s *xmppServer) session() *xmppSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

func (s *xmppServer) acceptLoop() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if !s.isClosed() {
				s.warn("the XMPP component listener failed: %v", err)
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.conns[nc] = true
		s.mu.Unlock()
		s.counts.connections.Add(1)
		s.wg.Go(func() { s.serveConn(nc) })
	}
}

// serveConn runs one connection: the stream header and handshake, then
// the authenticated stream until it ends.
func (s *xmppServer) serveConn(nc net.Conn) {
	defer func() {
		_ = nc.Close()
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
	}()
	sess := newXMPPSession(nc)
	lim := &elementLimit{r: nc}
	dec := xml.NewDecoder(bufio.NewReader(lim))
	_ = nc.SetReadDeadline(time.Now().Add(xmppHandshakeTimeout))
	if !s.handshake(sess, dec, lim) {
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	s.counts.authenticated.Add(1)
	s.mu.Lock()
	s.current = sess
	s.mu.Unlock()

	err := s.readStanzas(sess, dec, lim)

	s.mu.Lock()
	if s.current == sess {
		s.current = nil
	}
	closed := s.closed
	s.mu.Unlock()
	if !closed {
		s.counts.lost.Add(1)
		s.warn("the XMPP component connection from %s was lost: %v", nc.RemoteAddr(), err)
	}
}

// handshake reads the component's stream header, answers it, checks the
// handshake (XEP-0114 §3) and sends the privilege advertisement; it
// reports whether the stream is authenticated. A refused stream gets a
// stream error and is closed.
func (s *xmppServer) handshake(sess *xmppSession, dec *xml.Decoder, lim *elementLimit) bool {
	id := streamID()
	start, err := readStreamHeader(dec)
	if err != nil {
		s.refuse(sess, id, "bad-format", fmt.Sprintf("no stream header: %v", err))
		return false
	}
	if ns := defaultNamespace(start); ns != nsComponentAccept {
		s.refuse(sess, id, "invalid-namespace", fmt.Sprintf("the stream's namespace is %q, not %s", ns, nsComponentAccept))
		return false
	}
	if to := attr(start, "to"); !strings.EqualFold(to, s.opt.Component) {
		s.refuse(sess, id, "host-unknown", fmt.Sprintf("presenced asked for component %q, not --component %s", to, s.opt.Component))
		return false
	}
	if err := sess.write([]byte(streamHeader(s.opt.Component, id)), true); err != nil {
		return false
	}
	lim.reset()
	var hs struct {
		XMLName xml.Name
		Value   string `xml:",chardata"`
	}
	if err := nextElement(dec, &hs); err != nil || hs.XMLName != (xml.Name{Space: nsComponentAccept, Local: "handshake"}) {
		s.refuse(sess, "", "not-authorized", fmt.Sprintf("no handshake after the stream header (%v)", err))
		return false
	}
	if !handshakeMatches(id, s.opt.Secret, hs.Value) {
		s.counts.badHandshake.Add(1)
		s.refuse(sess, "", "not-authorized", "presenced's component handshake does not match --secret")
		return false
	}
	return sess.write([]byte("<handshake/>"+privilegeAdvertisement(s.opt.Domain, s.opt.Component)), true) == nil
}

// refuse ends a stream with a stream error of condition (RFC 6120 §4.9),
// after our stream header when id is set (it was not sent yet), and
// records why.
func (s *xmppServer) refuse(sess *xmppSession, id, condition, why string) {
	s.counts.refused.Add(1)
	s.refusal.Store(&why)
	var b strings.Builder
	if id != "" {
		b.WriteString(streamHeader(s.opt.Component, id))
	}
	fmt.Fprintf(&b, "<stream:error><%s xmlns='%s'/></stream:error></stream:stream>", condition, nsStreamErrors)
	_ = sess.write([]byte(b.String()), true)
	if !s.isClosed() {
		s.warn("refused an XMPP component stream from %s: %s", sess.c.RemoteAddr(), why)
	}
}

// xmppStanza is the part of a stanza from presenced the tool looks at.
type xmppStanza struct {
	XMLName xml.Name
	Type    string    `xml:"type,attr"`
	ID      string    `xml:"id,attr"`
	From    string    `xml:"from,attr"`
	To      string    `xml:"to,attr"`
	Ping    *struct{} `xml:"urn:xmpp:ping ping"`
}

// readStanzas handles the top-level elements of an authenticated stream
// until it ends, and returns why it did.
func (s *xmppServer) readStanzas(sess *xmppSession, dec *xml.Decoder, lim *elementLimit) error {
	for {
		lim.reset()
		var st xmppStanza
		if err := nextElement(dec, &st); err != nil {
			return err
		}
		if st.XMLName.Space != nsComponentAccept {
			s.counts.other.Add(1)
			continue
		}
		switch st.XMLName.Local {
		case "iq":
			s.iq(sess, &st)
		case "presence":
			s.counts.presences.Add(1) // probes or the component's own presence: nothing to answer
		case "message":
			s.counts.messages.Add(1)
		default:
			s.counts.other.Add(1)
		}
	}
}

// iq answers a ping with a result and any other request with
// service-unavailable (RFC 6120 §8.2.3: every get and set is answered).
func (s *xmppServer) iq(sess *xmppSession, st *xmppStanza) {
	from := st.To
	if from == "" {
		from = s.opt.Domain
	}
	head := "<iq type='%s' id='" + escapeAttr(st.ID) + "' from='" + escapeAttr(from) + "' to='" + escapeAttr(st.From) + "'"
	switch {
	case st.Type == "result" || st.Type == "error":
		s.counts.iqResults.Add(1)
	case st.Type == "get" && st.Ping != nil:
		s.counts.pings.Add(1)
		_ = sess.write(fmt.Appendf(nil, head+"/>", "result"), true)
	default:
		s.counts.iqRefused.Add(1)
		_ = sess.write(fmt.Appendf(nil, head+"><error type='cancel'><service-unavailable xmlns='%s'/></error></iq>", "error", nsStanzaErrors), true)
	}
}

// streamHeader is the server's answer to the component's stream header
// (XEP-0114 §3).
func streamHeader(component, id string) string {
	return "<?xml version='1.0'?><stream:stream xmlns='" + nsComponentAccept + "' xmlns:stream='" + nsXMPPStreams +
		"' from='" + escapeAttr(component) + "' id='" + escapeAttr(id) + "'>"
}

// privilegeAdvertisement is the XEP-0356 message granting the component
// roster access, outgoing messages and the users' presence.
func privilegeAdvertisement(domain, component string) string {
	return "<message from='" + escapeAttr(domain) + "' to='" + escapeAttr(component) + "'><privilege xmlns='" + nsPrivilege + "'>" +
		"<perm access='roster' type='both'/><perm access='message' type='outgoing'/><perm access='presence' type='roster'/>" +
		"</privilege></message>"
}

// handshakeMatches reports whether got is hex(SHA-1(id + secret)), in
// either case.
func handshakeMatches(id, secret, got string) bool {
	sum := sha1.Sum([]byte(id + secret))
	want := hex.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(strings.TrimSpace(got)))) == 1
}

// streamID returns a fresh random stream id.
func streamID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// readStreamHeader reads up to the opening <stream:stream>, skipping the
// XML declaration and whitespace.
func readStreamHeader(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name != (xml.Name{Space: nsXMPPStreams, Local: "stream"}) {
				return xml.StartElement{}, fmt.Errorf("got <%s> in %q", t.Name.Local, t.Name.Space)
			}
			return t, nil
		case xml.ProcInst, xml.CharData, xml.Comment:
		default:
			return xml.StartElement{}, fmt.Errorf("unexpected %T", tok)
		}
	}
}

// errStreamEnded reports that presenced closed its stream.
var errStreamEnded = errors.New("the component closed its stream")

// nextElement decodes the next top-level element of the stream into v,
// skipping whitespace between elements.
func nextElement(dec *xml.Decoder, v any) error {
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := dec.DecodeElement(v, &t); err != nil {
				return fmt.Errorf("read <%s>: %w", t.Name.Local, err)
			}
			return nil
		case xml.EndElement:
			return errStreamEnded
		}
	}
}

// defaultNamespace returns the xmlns attribute of start.
func defaultNamespace(start xml.StartElement) string {
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == "xmlns" {
			return a.Value
		}
	}
	return ""
}

// attr returns the unqualified attribute name of start.
func attr(start xml.StartElement, name string) string {
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// escapeAttr escapes s for an attribute value in single quotes.
func escapeAttr(s string) string {
	if !strings.ContainsAny(s, `&<>'"`) {
		return s
	}
	return attrEscaper.Replace(s)
}

var attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;")

// elementLimit fails a read once more than xmppMaxElement bytes were read
// since the last reset: a bound on one element, give or take the
// decoder's read-ahead.
type elementLimit struct {
	r io.Reader
	n int
}

func (l *elementLimit) reset() { l.n = 0 }

func (l *elementLimit) Read(p []byte) (int, error) {
	if l.n > xmppMaxElement {
		return 0, fmt.Errorf("an element of more than %d bytes", xmppMaxElement)
	}
	n, err := l.r.Read(p)
	l.n += n
	return n, err
}
