package component

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/clock"
)

// errPingTimeout reports a keepalive ping left unanswered for a whole
// interval.
var errPingTimeout = errors.New("keepalive ping unanswered")

// session is one established component stream.
type session struct {
	c    *Conn
	conn net.Conn

	// wmu serialises writes to conn.
	wmu sync.Mutex

	// mu guards the fields below.
	mu       sync.Mutex
	failErr  error  // first error of the writer side, before conn was closed
	pingID   string // id of the unanswered keepalive ping, "" when none
	pingSeq  int
	adverted bool // an advertisement has arrived
}

// runSession dials, performs the handshake and reads the stream until it
// fails or ctx ends. established reports whether the handshake succeeded.
func (c *Conn) runSession(ctx context.Context) (established bool, err error) {
	c.attempts.Add(1)
	conn, err := c.dial(ctx)
	if err != nil {
		return false, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()

	r := newReader(conn)
	if err := c.handshake(conn, r); err != nil {
		return false, err
	}
	s := &session{c: c, conn: conn}
	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.sess = nil
		c.mu.Unlock()
	}()
	c.setState(func(st *State) {
		*st = State{Connected: true, Err: fmt.Errorf("waiting for the privilege advertisement from %s", c.cfg.Domain)}
	})
	c.log.Info("xmpp component connected")

	hctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.housekeep(hctx) })
	err = s.readLoop(r)
	cancel()
	conn.Close()
	wg.Wait()
	return true, s.cause(err)
}

// dial connects to Addr, with direct TLS when configured.
func (c *Conn) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: c.cfg.IOTimeout}
	var conn net.Conn
	var err error
	if c.cfg.TLS != nil {
		conn, err = (&tls.Dialer{NetDialer: d, Config: c.cfg.TLS}).DialContext(ctx, "tcp", c.cfg.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", c.cfg.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to xmpp component listener: %w", err)
	}
	return conn, nil
}

// handshake opens the stream and authenticates (XEP-0114): the
// <handshake/> carries hex(SHA-1(stream id + secret)).
func (c *Conn) handshake(conn net.Conn, r *reader) error {
	if err := conn.SetDeadline(time.Now().Add(c.cfg.IOTimeout)); err != nil {
		return fmt.Errorf("component handshake: %w", err)
	}
	header := fmt.Sprintf("<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s' to='%s'>",
		nsComponent, nsStreams, attr(c.cfg.JID))
	if _, err := conn.Write([]byte(header)); err != nil {
		return fmt.Errorf("component handshake: send stream header: %w", err)
	}
	id, err := r.header()
	if err != nil {
		return fmt.Errorf("component handshake: %w", err)
	}
	sum := sha1.Sum([]byte(id + c.cfg.Secret))
	// A write error is not final: a server that refused the stream has
	// sent a stream error, which the read below reports.
	_, werr := conn.Write([]byte("<handshake>" + hex.EncodeToString(sum[:]) + "</handshake>"))
	e, err := r.next()
	switch {
	case err == nil && isStreamError(e):
		return fmt.Errorf("component handshake refused: %w", parseStreamError(e))
	case err == nil && e.name == xml.Name{Space: nsComponent, Local: "handshake"}:
	case err == nil:
		return fmt.Errorf("component handshake: unexpected <%s xmlns=%q> in reply", e.name.Local, e.name.Space)
	case werr != nil:
		return fmt.Errorf("component handshake: send handshake: %w", werr)
	case errors.Is(err, errStreamClosed), errors.Is(err, errConnClosed):
		return fmt.Errorf("component handshake: %w", err)
	default:
		return fmt.Errorf("component handshake: read reply: %w", err)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("component handshake: %w", err)
	}
	return nil
}

// readLoop dispatches elements until the stream fails.
func (s *session) readLoop(r *reader) error {
	c := s.c
	for {
		e, err := r.next()
		if err != nil {
			return err
		}
		if c.trace != nil {
			c.trace(e.raw)
		}
		switch e.name {
		case xml.Name{Space: nsComponent, Local: "presence"}:
			if c.cfg.OnPresence != nil {
				c.cfg.OnPresence(e.raw)
			}
		case xml.Name{Space: nsComponent, Local: "iq"}:
			s.handleIQ(e)
		case xml.Name{Space: nsComponent, Local: "message"}:
			if a, ok := parseAdvertisement(e, c.cfg.Domain); ok {
				s.advertised(a)
			}
		case xml.Name{Space: nsStreams, Local: "error"}:
			return fmt.Errorf("stream error from server: %w", parseStreamError(e))
		}
	}
}

// advertised records a privilege advertisement.
func (s *session) advertised(a advertisement) {
	c := s.c
	s.mu.Lock()
	s.adverted = true
	s.mu.Unlock()
	err := a.check(c.cfg.Domain)
	c.setState(func(st *State) {
		*st = State{Connected: true, Privileged: err == nil, Perms: a.perms, Namespace: a.namespace, Err: err}
	})
	if err != nil {
		c.logOnce(err)
		return
	}
	c.clearLogged()
	c.log.Info("xmpp component privileged", "namespace", a.namespace, "perms", a.perms)
}

// iqXML is the part of an <iq/> the component looks at.
type iqXML struct {
	ID      string `xml:"id,attr"`
	Type    string `xml:"type,attr"`
	From    string `xml:"from,attr"`
	To      string `xml:"to,attr"`
	Payload []struct {
		XMLName xml.Name
	} `xml:",any"`
}

// handleIQ answers pings and refuses other requests; a result or error
// answers a keepalive ping.
func (s *session) handleIQ(e element) {
	var iq iqXML
	if err := e.decode(&iq); err != nil {
		return
	}
	switch iq.Type {
	case "result", "error":
		s.mu.Lock()
		if iq.ID != "" && iq.ID == s.pingID {
			s.pingID = "" // an error reply also proves the server alive
		}
		s.mu.Unlock()
		return
	case "get", "set":
	default:
		return
	}
	head := fmt.Sprintf("<iq id='%s' from='%s' to='%s'", attr(iq.ID), attr(iq.To), attr(iq.From))
	var reply string
	if iq.Type == "get" && len(iq.Payload) == 1 && iq.Payload[0].XMLName == (xml.Name{Space: nsPing, Local: "ping"}) {
		reply = head + " type='result'/>"
	} else {
		reply = head + " type='error'><error type='cancel'><service-unavailable xmlns='" + nsStanzaErr + "'/></error></iq>"
	}
	_ = s.write(context.Background(), []byte(reply)) // a failure ends the session
}

// housekeep runs the keepalive pings and the privilege wait until ctx
// ends. Timer callbacks only signal it, so no callback outlives the
// session.
func (s *session) housekeep(ctx context.Context) {
	c := s.c
	waited, given := make(chan struct{}, 1), make(chan struct{}, 1)
	t := c.cfg.Clock.AfterFunc(c.cfg.PrivilegeWait, func() { waited <- struct{}{} })
	defer t.Stop()
	// A connection still without privileges a while after the report is
	// dropped and made again: a server may miss the advertisement for a
	// new connection (ejabberd while it still holds the route of a
	// previous one), and without privileges no presence flows.
	t2 := c.cfg.Clock.AfterFunc(c.cfg.PrivilegeWait+max(c.cfg.PrivilegeWait, time.Second), func() { given <- struct{}{} })
	defer t2.Stop()
	var ticks <-chan struct{}
	if c.cfg.KeepAlive > 0 {
		var stop func()
		ticks, stop = clock.Ticker(c.cfg.Clock, c.cfg.KeepAlive)
		defer stop()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-waited:
			s.privilegeTimeout()
		case <-given:
			if err := s.privilegeTimeout(); err != nil {
				s.fail(err)
				return
			}
		case <-ticks:
			if err := s.ping(); err != nil {
				return
			}
		}
	}
}

// privilegeTimeout reports a missing advertisement once PrivilegeWait
// has passed since the handshake, and returns the error (nil once
// privileges were advertised).
func (s *session) privilegeTimeout() error {
	c := s.c
	s.mu.Lock()
	adverted := s.adverted
	s.mu.Unlock()
	if adverted {
		return nil
	}
	err := fmt.Errorf("no privilege advertisement from %s within %v (is mod_privilege enabled for %s?)",
		c.cfg.Domain, c.cfg.PrivilegeWait, c.cfg.JID)
	c.setState(func(st *State) {
		if st.Connected && !st.Privileged && st.Perms == nil {
			st.Err = err
		}
	})
	c.logOnce(err)
	return err
}

// ping sends a keepalive ping, or drops the connection if the previous
// one is still unanswered.
func (s *session) ping() error {
	s.mu.Lock()
	if s.pingID != "" {
		s.mu.Unlock()
		s.fail(fmt.Errorf("%w for %v", errPingTimeout, s.c.cfg.KeepAlive))
		return errPingTimeout
	}
	s.pingSeq++
	id := fmt.Sprintf("ka%d-%s", s.pingSeq, randomID())
	s.pingID = id
	s.mu.Unlock()
	c := s.c
	return s.write(context.Background(), fmt.Appendf(nil, "<iq type='get' id='%s' from='%s' to='%s'><ping xmlns='%s'/></iq>",
		id, attr(c.cfg.JID), attr(c.cfg.Domain), nsPing))
}

// write sends b within IOTimeout (or ctx's earlier deadline). A failed
// write leaves the stream in an unknown state, so it ends the session.
func (s *session) write(ctx context.Context, b []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	deadline := time.Now().Add(s.c.cfg.IOTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.conn.SetWriteDeadline(deadline); err != nil {
		s.fail(fmt.Errorf("write: %w", err))
		return err
	}
	if _, err := s.conn.Write(b); err != nil {
		s.fail(fmt.Errorf("write: %w", err))
		return err
	}
	return nil
}

// fail records err as the session's end, unless one is recorded, and
// closes the connection so that the read loop returns.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.failErr == nil {
		s.failErr = err
	}
	s.mu.Unlock()
	s.conn.Close()
}

// cause returns why the session ended, given the read loop's error.
func (s *session) cause(readErr error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.failErr != nil:
		return fmt.Errorf("xmpp component connection dropped: %w", s.failErr)
	case errors.Is(readErr, errStreamClosed), errors.Is(readErr, errConnClosed):
		return fmt.Errorf("xmpp component connection dropped: %w", readErr)
	case errors.As(readErr, new(*StreamError)):
		return readErr
	default:
		return fmt.Errorf("xmpp component connection dropped: read: %w", readErr)
	}
}

// randomID returns 8 random hex digits.
func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
