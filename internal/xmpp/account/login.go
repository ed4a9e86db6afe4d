package account

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"mellium.im/sasl"
)

// mechanisms are the SASL mechanisms used, best first. The -PLUS
// variants are left out: channel binding buys nothing over a verified
// TLS session, and tls-unique/tls-exporter support differs between
// servers. PLAIN is only ever sent inside TLS.
var mechanisms = []sasl.Mechanism{sasl.ScramSha256, sasl.ScramSha1, sasl.Plain}

// featuresXML is what the session reads of <stream:features/>.
type featuresXML struct {
	StartTLS   *struct{} `xml:"urn:ietf:params:xml:ns:xmpp-tls starttls"`
	Mechanisms []string  `xml:"urn:ietf:params:xml:ns:xmpp-sasl mechanisms>mechanism"`
	Bind       *struct{} `xml:"urn:ietf:params:xml:ns:xmpp-bind bind"`
	Session    *struct {
		Optional *struct{} `xml:"optional"`
	} `xml:"urn:ietf:params:xml:ns:xmpp-session session"`
}

// login dials the server and negotiates TLS, SASL and the resource. ctx
// bounds the whole negotiation, and so does ioTimeout.
func (s *Session) login(ctx context.Context) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", s.cfg.Addr, err)
	}
	// The negotiation blocks in reads; closing the connection is what
	// makes ctx interrupt a silent server.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	c, err := s.negotiate(nc)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("log in to %s: %w", s.cfg.Addr, err)
	}
	return c, nil
}

// negotiate runs the stream negotiation of RFC 6120 on nc.
func (s *Session) negotiate(nc net.Conn) (*conn, error) {
	_ = nc.SetDeadline(time.Now().Add(ioTimeout))
	c := newConn(nc)
	if s.cfg.DirectTLS {
		if err := c.startTLS(s.cfg.TLS); err != nil {
			return nil, err
		}
	}
	f, err := s.open(c)
	if err != nil {
		return nil, err
	}
	if !c.secure {
		if f.StartTLS == nil {
			return nil, ErrTLSRequired
		}
		if err := s.starttls(c); err != nil {
			return nil, err
		}
		if f, err = s.open(c); err != nil {
			return nil, err
		}
	}
	if err := s.authenticate(c, f.Mechanisms); err != nil {
		return nil, err
	}
	if f, err = s.open(c); err != nil {
		return nil, err
	}
	if f.Bind == nil {
		return nil, fmt.Errorf("%w: no resource binding offered", ErrProtocol)
	}
	if err := s.bind(c); err != nil {
		return nil, err
	}
	// RFC 3921 session establishment, for servers that still require it.
	if f.Session != nil && f.Session.Optional == nil {
		payload := "<session xmlns='" + nsSession + "'/>"
		if _, err := c.request("set", "", payload); err != nil {
			return nil, fmt.Errorf("establish session: %w", err)
		}
	}
	_ = c.nc.SetDeadline(time.Time{})
	return c, nil
}

// open sends a stream header, reads the server's and its features.
func (s *Session) open(c *conn) (featuresXML, error) {
	from := ""
	if c.secure {
		// RFC 6120 section 4.7.1: include from once the stream is
		// protected.
		from = " from='" + escape(s.bare()) + "'"
	}
	header := "<?xml version='1.0'?><stream:stream to='" + escape(s.domain) + "'" + from +
		" version='1.0' xml:lang='en' xmlns='" + nsClient + "' xmlns:stream='" + nsStream + "'>"
	c.r = newReader(c.nc)
	if err := c.write(header); err != nil {
		return featuresXML{}, err
	}
	if _, err := c.r.header(); err != nil {
		return featuresXML{}, err
	}
	el, err := c.r.next()
	if err != nil {
		return featuresXML{}, fmt.Errorf("read stream features: %w", err)
	}
	if !el.is(nsStream, "features") {
		return featuresXML{}, fmt.Errorf("%w: expected stream features, got <%s>", ErrProtocol, el.start.Name.Local)
	}
	var f featuresXML
	if err := el.decode(&f); err != nil {
		return featuresXML{}, fmt.Errorf("%w: stream features: %v", ErrProtocol, err)
	}
	return f, nil
}

// starttls upgrades the stream with STARTTLS (RFC 6120 section 5).
func (s *Session) starttls(c *conn) error {
	if err := c.write("<starttls xmlns='" + nsTLS + "'/>"); err != nil {
		return err
	}
	el, err := c.r.next()
	if err != nil {
		return fmt.Errorf("starttls: %w", err)
	}
	if !el.is(nsTLS, "proceed") {
		return fmt.Errorf("starttls: server answered <%s>", el.start.Name.Local)
	}
	return c.startTLS(s.cfg.TLS)
}

// authenticate runs SASL (RFC 6120 section 6) with the best mechanism
// both sides support.
func (s *Session) authenticate(c *conn, offered []string) error {
	i := slices.IndexFunc(mechanisms, func(m sasl.Mechanism) bool { return slices.Contains(offered, m.Name) })
	if i < 0 {
		return fmt.Errorf("authenticate: no supported SASL mechanism among %v", offered)
	}
	mech := mechanisms[i]
	c.mech = mech.Name
	neg := sasl.NewClient(mech,
		sasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(s.local), []byte(s.cfg.Password), nil }),
		sasl.RemoteMechanisms(offered...))
	more, resp, err := neg.Step(nil)
	if err != nil {
		return fmt.Errorf("authenticate with %s: %w", mech.Name, err)
	}
	if err := c.write("<auth xmlns='" + nsSASL + "' mechanism='" + mech.Name + "'>" + encode64(resp) + "</auth>"); err != nil {
		return err
	}
	for {
		el, err := c.r.next()
		if err != nil {
			return fmt.Errorf("authenticate with %s: %w", mech.Name, err)
		}
		var body struct {
			conditionXML
			Data string `xml:",chardata"`
		}
		if err := el.decode(&body); err != nil {
			return fmt.Errorf("%w: SASL %s: %v", ErrProtocol, el.start.Name.Local, err)
		}
		switch {
		case el.is(nsSASL, "failure"):
			return &AuthError{Condition: body.condition(nsSASL), Text: body.Text}
		case el.is(nsSASL, "challenge") && more:
			data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(body.Data))
			if err != nil {
				return fmt.Errorf("%w: SASL challenge: %v", ErrProtocol, err)
			}
			if more, resp, err = neg.Step(data); err != nil {
				return fmt.Errorf("authenticate with %s: %w", mech.Name, err)
			}
			if err := c.write("<response xmlns='" + nsSASL + "'>" + encode64(resp) + "</response>"); err != nil {
				return err
			}
		case el.is(nsSASL, "success"):
			return verifySuccess(neg, more, mech.Name, body.Data)
		default:
			return fmt.Errorf("%w: unexpected <%s> during SASL", ErrProtocol, el.start.Name.Local)
		}
	}
}

// verifySuccess checks the additional data of <success/>: for SCRAM the
// server's signature, which proves the server knows the password too.
func verifySuccess(neg *sasl.Negotiator, more bool, mech, data string) error {
	if !more {
		return nil // PLAIN, or SCRAM already verified in a challenge
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
	if err != nil || len(raw) == 0 {
		return fmt.Errorf("%w: %s success without the server's final message", ErrProtocol, mech)
	}
	if _, _, err := neg.Step(raw); err != nil {
		return fmt.Errorf("authenticate with %s: server signature: %w", mech, err)
	}
	return nil
}

// encode64 returns b in base64, or "=" for an empty response (RFC 6120
// section 6.4.2).
func encode64(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

// bind binds the configured resource (RFC 6120 section 7). The server
// may choose another one; the bound JID is kept in c.jid.
func (s *Session) bind(c *conn) error {
	payload := "<bind xmlns='" + nsBind + "'><resource>" + escape(s.cfg.Resource) + "</resource></bind>"
	el, err := c.request("set", "", payload)
	if err != nil {
		return fmt.Errorf("bind resource: %w", err)
	}
	var iq iqXML
	if err := el.decode(&iq); err != nil || iq.Bind == nil || iq.Bind.JID == "" {
		return fmt.Errorf("%w: bind result without a JID", ErrProtocol)
	}
	c.jid = iq.Bind.JID
	return nil
}

// startTLS runs the TLS handshake on c's connection.
func (c *conn) startTLS(cfg *tls.Config) error {
	tc := tls.Client(c.nc, cfg)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	c.nc, c.secure = tc, true
	return nil
}
