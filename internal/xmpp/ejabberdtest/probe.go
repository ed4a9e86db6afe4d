package ejabberdtest

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// XML namespaces of RFC 6120.
const (
	nsStreams = "http://etherx.jabber.org/streams"
	nsClient  = "jabber:client"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
)

// maxProbeRead bounds what probeC2S reads before giving up.
const maxProbeRead = 64 << 10

// streamFeatures is the part of <stream:features/> the probe looks at.
type streamFeatures struct {
	StartTLS *struct {
		Required *struct{} `xml:"required"`
	} `xml:"urn:ietf:params:xml:ns:xmpp-tls starttls"`
}

// probeC2S opens a client stream to domain at addr and reports an error
// unless the server's stream features offer STARTTLS.
func probeC2S(addr, domain string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return fmt.Errorf("probe c2s: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("probe c2s: %w", err)
	}
	if _, err := io.WriteString(conn, clientStreamHeader(domain)); err != nil {
		return fmt.Errorf("probe c2s: send stream header: %w", err)
	}
	dec := xml.NewDecoder(io.LimitReader(conn, maxProbeRead))
	f, err := readFeatures(dec)
	if err != nil {
		return fmt.Errorf("probe c2s: %w", err)
	}
	if f.StartTLS == nil {
		return errors.New("probe c2s: stream features offer no STARTTLS")
	}
	return nil
}

// clientStreamHeader returns the opening <stream:stream> of a client
// stream to domain.
func clientStreamHeader(domain string) string {
	return fmt.Sprintf("<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s' to='%s' version='1.0'>",
		nsClient, nsStreams, escapeAttr(domain))
}

// readFeatures reads the stream header and the <stream:features/> that
// follows it from dec.
func readFeatures(dec *xml.Decoder) (streamFeatures, error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return streamFeatures{}, fmt.Errorf("read stream features: %w", err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Space != nsStreams {
			continue
		}
		switch start.Name.Local {
		case "stream":
			continue
		case "features":
			var f streamFeatures
			if err := dec.DecodeElement(&f, &start); err != nil {
				return streamFeatures{}, fmt.Errorf("decode stream features: %w", err)
			}
			return f, nil
		default:
			return streamFeatures{}, fmt.Errorf("got <stream:%s/> instead of stream features", start.Name.Local)
		}
	}
}

// escapeAttr escapes s for use inside a single- or double-quoted XML
// attribute value.
func escapeAttr(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}
