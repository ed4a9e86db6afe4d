package account

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/clock/clocktest"
)

// The tests here run the session against a scripted server for what the
// real servers of the harnesses cannot show: direct TLS (their c2s ports
// offer STARTTLS only), a server without STARTTLS, an oversized stanza.

// testCert returns a server certificate for example.com and a pool
// trusting it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "example.com"},
		DNSNames: []string{"example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// fakeServer is one scripted server connection, read with the package's
// own stream reader.
type fakeServer struct {
	t    *testing.T
	conn net.Conn
	r    *reader
}

// open reads the client's stream header and answers with features.
func (f *fakeServer) open(features string) error {
	f.r = newReader(f.conn)
	if _, err := f.r.header(); err != nil {
		return err
	}
	return f.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='" + nsStream +
		"' id='s1' from='example.com' version='1.0'><stream:features>" + features + "</stream:features>")
}

func (f *fakeServer) send(s string) error {
	_, err := io.WriteString(f.conn, s)
	return err
}

// expect reads the next element and checks its name.
func (f *fakeServer) expect(local string) (element, error) {
	el, err := f.r.next()
	if err != nil {
		return el, fmt.Errorf("waiting for <%s>: %w", local, err)
	}
	if el.start.Name.Local != local {
		return el, fmt.Errorf("got <%s>, want <%s>: %s", el.start.Name.Local, local, el.raw)
	}
	return el, nil
}

// login plays a server that accepts PLAIN for ep/pw, binds, answers the
// roster request with an empty roster and reads the initial presence.
func (f *fakeServer) login() error {
	if err := f.open("<mechanisms xmlns='" + nsSASL + "'><mechanism>PLAIN</mechanism></mechanisms>"); err != nil {
		return err
	}
	auth, err := f.expect("auth")
	if err != nil {
		return err
	}
	var body struct {
		Data string `xml:",chardata"`
	}
	if err := auth.decode(&body); err != nil {
		return err
	}
	if got, _ := base64.StdEncoding.DecodeString(body.Data); string(got) != "\x00ep\x00pw" {
		return fmt.Errorf("PLAIN response %q", got)
	}
	if err := f.send("<success xmlns='" + nsSASL + "'/>"); err != nil {
		return err
	}
	if err := f.open("<bind xmlns='" + nsBind + "'/>"); err != nil {
		return err
	}
	for _, answer := range []string{
		"<bind xmlns='" + nsBind + "'><jid>ep@example.com/presenced</jid></bind>",
		"<query xmlns='" + nsRoster + "'/>",
	} {
		iq, err := f.expect("iq")
		if err != nil {
			return err
		}
		if err := f.send("<iq type='result' id='" + iq.attr("id") + "'>" + answer + "</iq>"); err != nil {
			return err
		}
	}
	p, err := f.expect("presence")
	if err != nil {
		return err
	}
	if string(p.raw) != initialPresence {
		return fmt.Errorf("initial presence %s", p.raw)
	}
	return nil
}

// serveOne accepts one connection, runs script on it and returns its
// error on the channel.
func serveOne(ln net.Listener, wrap func(net.Conn) net.Conn, script func(*fakeServer) error) <-chan error {
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		done <- script(&fakeServer{conn: wrap(conn)})
	}()
	return done
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestDirectTLS(t *testing.T) {
	cert, pool := testCert(t)
	ln := listen(t)
	tlsWrap := func(c net.Conn) net.Conn { return tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}}) }
	got := make(chan []byte, 1)
	done := serveOne(ln, tlsWrap, func(f *fakeServer) error {
		if err := f.login(); err != nil {
			return err
		}
		// The echo of the account's own presence is not reported.
		return f.send("<presence from='ep@example.com/presenced'/><presence from='bob@example.com/x'><show>dnd</show></presence>")
	})
	startSession(t, Config{
		Addr: ln.Addr().String(), JID: "ep@example.com", Password: "pw", DirectTLS: true,
		TLS: &tls.Config{RootCAs: pool}, KeepAlive: -1, Clock: clocktest.New(time.Unix(0, 0)),
		OnPresence: func(raw []byte) { got <- raw }, Logger: testLogger(t),
	})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case raw := <-got:
		if diff := cmp.Diff("<presence from='bob@example.com/x'><show>dnd</show></presence>", string(raw)); diff != "" {
			t.Errorf("presence (-want +got):\n%s", diff)
		}
	case <-time.After(waitFor):
		t.Fatal("no presence")
	}
}

func TestStartTLSRequired(t *testing.T) {
	ln := listen(t)
	plain := func(c net.Conn) net.Conn { return c }
	done := serveOne(ln, plain, func(f *fakeServer) error {
		if err := f.open("<mechanisms xmlns='" + nsSASL + "'><mechanism>PLAIN</mechanism></mechanisms>"); err != nil {
			return err
		}
		// The client must hang up without authenticating.
		if el, err := f.r.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("after features without STARTTLS: got %q, %v; want the connection closed", el.raw, err)
		}
		return nil
	})
	clk := clocktest.New(time.Unix(0, 0))
	s := startSession(t, Config{Addr: ln.Addr().String(), JID: "ep@example.com", Password: "pw", Clock: clk, Logger: testLogger(t)})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	eventually(t, "attempt failed", func() bool { return clk.Pending() == 1 })
	if err := s.Health(); !errors.Is(err, ErrTLSRequired) {
		t.Fatalf("Health = %v, want ErrTLSRequired", err)
	}
}

func TestOversizedStanza(t *testing.T) {
	cert, pool := testCert(t)
	ln := listen(t)
	tlsWrap := func(c net.Conn) net.Conn { return tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}}) }
	done := serveOne(ln, tlsWrap, func(f *fakeServer) error {
		if err := f.login(); err != nil {
			return err
		}
		big := "<message><body>" + strings.Repeat("x", MaxStanzaSize) + "</body></message>"
		if err := f.send(big); err != nil {
			return err
		}
		// The reader turns the client's <stream:error/> into an error.
		_, err := f.r.next()
		if se := (*StreamError)(nil); !errors.As(err, &se) || se.Condition != "policy-violation" {
			return fmt.Errorf("client sent %v, want a policy-violation stream error", err)
		}
		return nil
	})
	clk := clocktest.New(time.Unix(0, 0))
	s := startSession(t, Config{
		Addr: ln.Addr().String(), JID: "ep@example.com", Password: "pw", DirectTLS: true,
		TLS: &tls.Config{RootCAs: pool}, KeepAlive: -1, Clock: clk, Logger: testLogger(t),
	})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	eventually(t, "connection dropped", func() bool { return clk.Pending() == 1 })
	if err := s.Health(); !errors.Is(err, ErrStanzaTooLarge) {
		t.Fatalf("Health = %v, want ErrStanzaTooLarge", err)
	}
}

// A Watch before the session is connected waits for it, bounded by ctx.
func TestWatchWaitsForConnection(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:1", JID: "ep@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Watch(ctx, "bob@example.com"); !errors.Is(err, ErrNotConnected) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch = %v, want not connected, canceled", err)
	}
	if err := s.Watch(ctx, "bob@example.com/res"); err == nil {
		t.Fatal("Watch accepted a full JID")
	}
}
