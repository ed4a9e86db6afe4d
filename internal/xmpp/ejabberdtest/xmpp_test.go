package ejabberdtest

import (
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// ioTimeout bounds every read and write on a test connection; it only
// turns a hang into a failure.
const ioTimeout = 10 * time.Second

const (
	nsComponent = "jabber:component:accept"
	nsSASL      = "urn:ietf:params:xml:ns:xmpp-sasl"
)

// stream is a raw XMPP stream: a connection and a decoder positioned
// after the peer's stream header.
type stream struct {
	conn net.Conn
	dec  *xml.Decoder
	id   string // id attribute of the peer's stream header
}

// openStream sends header on conn and reads the peer's stream header.
func openStream(t *testing.T, conn net.Conn, header string) *stream {
	t.Helper()
	s := &stream{conn: conn, dec: xml.NewDecoder(conn)}
	s.send(t, header)
	for {
		tok, err := s.token()
		if err != nil {
			t.Fatalf("read stream header: %v", err)
		}
		if start, ok := tok.(xml.StartElement); ok && start.Name == (xml.Name{Space: nsStreams, Local: "stream"}) {
			for _, a := range start.Attr {
				if a.Name.Local == "id" {
					s.id = a.Value
				}
			}
			return s
		}
	}
}

func (s *stream) token() (xml.Token, error) {
	if err := s.conn.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		return nil, err
	}
	return s.dec.Token()
}

func (s *stream) send(t *testing.T, data string) {
	t.Helper()
	if err := s.conn.SetWriteDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(s.conn, data); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// element is any top-level stream element, with what the tests look at.
type element struct {
	XMLName   xml.Name
	From      string     `xml:"from,attr"`
	To        string     `xml:"to,attr"`
	Type      string     `xml:"type,attr"`
	Privilege *privilege `xml:"privilege"`
	// Children are the names of the child elements (for stream errors,
	// the condition; for features, the offered features).
	Children []child `xml:",any"`
}

type child struct {
	XMLName xml.Name
	Inner   []byte `xml:",innerxml"`
}

// privilege is a XEP-0356 advertisement, in whatever namespace.
type privilege struct {
	XMLName xml.Name
	Perms   []perm `xml:"perm"`
}

type perm struct {
	Access string `xml:"access,attr"`
	Type   string `xml:"type,attr"`
}

// next reads the next top-level element; io.EOF means the peer closed
// the stream.
func (s *stream) next() (element, error) {
	for {
		tok, err := s.token()
		if err != nil {
			return element{}, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			var e element
			if err := s.dec.DecodeElement(&e, &tok); err != nil {
				return element{}, err
			}
			return e, nil
		case xml.EndElement: // </stream:stream>
			return element{}, io.EOF
		}
	}
}

// dialComponent opens a XEP-0114 component stream for component to addr.
func dialComponent(t *testing.T, addr, component string) *stream {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return openStream(t, conn, fmt.Sprintf(
		"<stream:stream xmlns='%s' xmlns:stream='%s' to='%s'>", nsComponent, nsStreams, escapeAttr(component)))
}

// handshake authenticates with XEP-0114's hex SHA-1 of stream id and
// secret. It returns nil for an empty <handshake/> and an error naming
// the condition of a stream error.
func (s *stream) handshake(t *testing.T, secret string) error {
	t.Helper()
	if s.id == "" {
		t.Fatal("component stream header has no id")
	}
	sum := sha1.Sum([]byte(s.id + secret))
	s.send(t, "<handshake>"+hex.EncodeToString(sum[:])+"</handshake>")
	e, err := s.next()
	if err != nil {
		t.Fatalf("read handshake reply: %v", err)
	}
	switch {
	case e.XMLName == xml.Name{Space: nsComponent, Local: "handshake"}:
		return nil
	case e.XMLName == xml.Name{Space: nsStreams, Local: "error"} && len(e.Children) > 0:
		return fmt.Errorf("stream error %s", e.Children[0].XMLName.Local)
	default:
		return fmt.Errorf("unexpected reply %v", e.XMLName)
	}
}

// waitPrivilege reads elements until a message carrying a XEP-0356
// <privilege/> and returns it with the names of the elements before it.
func (s *stream) waitPrivilege(t *testing.T) (element, []string) {
	t.Helper()
	var before []string
	for {
		e, err := s.next()
		if err != nil {
			t.Fatalf("waiting for <privilege/> (got %v before): %v", before, err)
		}
		if e.XMLName.Local == "message" && e.Privilege != nil {
			return e, before
		}
		before = append(before, e.XMLName.Local+" from "+e.From)
	}
}

// c2sResult is what a client sees on the c2s port, before and after
// STARTTLS.
type c2sResult struct {
	StartTLS, Required bool
	// TLSVersion is the negotiated version after a handshake that
	// verified the certificate for the domain against CertPool.
	TLSVersion string
	// Mechanisms are the SASL mechanisms offered after STARTTLS.
	Mechanisms []string
}

// checkC2S opens a client stream, negotiates STARTTLS verifying the
// certificate, and reads the SASL mechanisms offered on the new stream.
func checkC2S(t *testing.T, srv *Server) c2sResult {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.C2SAddr(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := openStream(t, conn, clientStreamHeader(srv.Domain()))
	var res c2sResult
	f, err := s.next()
	if err != nil {
		t.Fatalf("read features: %v", err)
	}
	for _, c := range f.Children {
		if c.XMLName == (xml.Name{Space: nsTLS, Local: "starttls"}) {
			res.StartTLS = true
			var st struct {
				Required *struct{} `xml:"required"`
			}
			if err := xml.Unmarshal(append(append([]byte("<x>"), c.Inner...), "</x>"...), &st); err != nil {
				t.Fatal(err)
			}
			res.Required = st.Required != nil
		}
	}
	if !res.StartTLS {
		return res
	}
	s.send(t, "<starttls xmlns='"+nsTLS+"'/>")
	if e, err := s.next(); err != nil || e.XMLName.Local != "proceed" {
		t.Fatalf("STARTTLS: got %v, %v; want <proceed/>", e.XMLName, err)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: srv.Domain(), RootCAs: srv.CertPool()})
	if err := tc.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	res.TLSVersion = tls.VersionName(tc.ConnectionState().Version)
	s = openStream(t, tc, clientStreamHeader(srv.Domain()))
	if f, err = s.next(); err != nil {
		t.Fatalf("read features after STARTTLS: %v", err)
	}
	for _, c := range f.Children {
		if c.XMLName == (xml.Name{Space: nsSASL, Local: "mechanisms"}) {
			var m struct {
				Mechanisms []string `xml:"mechanism"`
			}
			if err := xml.Unmarshal(append(append([]byte("<x>"), c.Inner...), "</x>"...), &m); err != nil {
				t.Fatal(err)
			}
			res.Mechanisms = m.Mechanisms
		}
	}
	return res
}

// errIsExit reports whether err is an exit of the client VM with a
// non-zero status.
func errIsExit(err error) bool {
	var ee interface{ ExitCode() int }
	return errors.As(err, &ee) && ee.ExitCode() > 0
}
