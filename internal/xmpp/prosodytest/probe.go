package prosodytest

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// nsStream is the XML namespace of the stream element (RFC 6120).
const nsStream = "http://etherx.jabber.org/streams"

// probe reports whether both listeners are serving: the c2s port must send
// stream features for Domain (the VirtualHost is active) and the component
// port must open a stream for Component.
func (s *Server) probe(timeout time.Duration) error {
	c2s := "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
		"xmlns:stream='" + nsStream + "' version='1.0' to='" + s.opts.Domain + "'>"
	if err := probeStream(s.C2SAddr(), c2s, "features", timeout); err != nil {
		return fmt.Errorf("c2s %s: %w", s.C2SAddr(), err)
	}
	comp := "<stream:stream xmlns='jabber:component:accept' " +
		"xmlns:stream='" + nsStream + "' to='" + s.opts.Component + "'>"
	if err := probeStream(s.ComponentAddr(), comp, "stream", timeout); err != nil {
		return fmt.Errorf("component %s: %w", s.ComponentAddr(), err)
	}
	return nil
}

// probeStream opens a stream on addr with header and waits for an element
// named want in the stream namespace; a stream error fails the probe.
func probeStream(addr, header, want string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := io.WriteString(conn, header); err != nil {
		return err
	}
	dec := xml.NewDecoder(conn)
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Space != nsStream {
			continue
		}
		switch start.Name.Local {
		case want:
			return nil
		case "error":
			return errors.New("stream error")
		}
	}
}
