package slapdtest

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"time"
)

// anonymousBind is an LDAPv3 BindRequest (RFC 4511 §4.2) with message ID 1,
// an empty name and an empty simple password, BER-encoded.
var anonymousBind = []byte{
	0x30, 0x0c, // LDAPMessage SEQUENCE
	0x02, 0x01, 0x01, // messageID 1
	0x60, 0x07, // [APPLICATION 0] BindRequest
	0x02, 0x01, 0x03, // version 3
	0x04, 0x00, // name ""
	0x80, 0x00, // [0] simple ""
}

// probe reports whether both listeners answer an anonymous bind with
// success: the plain port in clear text and the LDAPS port over TLS
// verified against the server's certificate.
func (s *Server) probe(timeout time.Duration) error {
	if err := bindProbe(s.Addr(), nil, timeout); err != nil {
		return fmt.Errorf("ldap %s: %w", s.Addr(), err)
	}
	cfg := &tls.Config{RootCAs: s.CAPool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if err := bindProbe(s.LDAPSAddr(), cfg, timeout); err != nil {
		return fmt.Errorf("ldaps %s: %w", s.LDAPSAddr(), err)
	}
	return nil
}

// bindProbe dials addr (over TLS when cfg is not nil), sends an anonymous
// bind and checks that the BindResponse's resultCode is success (0).
func bindProbe(addr string, cfg *tls.Config, timeout time.Duration) error {
	d := &net.Dialer{Timeout: timeout}
	var conn net.Conn
	var err error
	if cfg != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, cfg)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := conn.Write(anonymousBind); err != nil {
		return err
	}
	// A BindResponse without matchedDN, message or referral is 14 bytes:
	// 30 0c 02 01 01 61 07 0a 01 CODE 04 00 04 00.
	resp := make([]byte, 14)
	if _, err := io.ReadFull(conn, resp); err != nil {
		return fmt.Errorf("read bind response: %w", err)
	}
	if resp[0] != 0x30 || resp[5] != 0x61 || resp[7] != 0x0a || resp[8] != 0x01 {
		return fmt.Errorf("unexpected bind response % x", resp)
	}
	if code := resp[9]; code != 0 {
		return fmt.Errorf("anonymous bind: resultCode %d", code)
	}
	return nil
}
