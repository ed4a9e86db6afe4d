package probe

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/certs"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/sip/locate"
)

// SIP checks backend.sip as the connector would use it: "locate server"
// (host:port as given, or DNS SRV through c.DNSServer), over TLS "load
// client certificate" (by friendly name), "load trust store" and then
// "connect", "TLS handshake" with the client certificate, and "OPTIONS"
// from the endpoint identity from (a SIP URI, e.g. the first endpoint)
// over that connection, which must be answered 2xx.
//
// Only the first located target is tried: the check is about the
// configuration, not about fail-over.
func SIP(ctx context.Context, c config.SIPConfig, from string) Report {
	r, cancel := newRun(ctx)
	defer cancel()
	r.resolver = locate.NewResolver(c.DNSServer)
	var target locate.Target
	if !r.step("locate server", func() (d string, err error) {
		target, d, err = locateSIP(r.ctx, c)
		return d, err
	}) {
		return r.report
	}
	var cfg *tls.Config
	var ts trust
	if target.Transport == locate.TLS {
		if cfg, ts = r.sipTLS(c, target); cfg == nil {
			return r.report
		}
	}
	var raw net.Conn
	if !r.step("connect", func() (string, error) {
		var err error
		raw, err = r.dial(target.Addr)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s from %s", raw.RemoteAddr(), raw.LocalAddr()), r.deadline(raw)
	}) {
		return r.report
	}
	defer raw.Close()
	conn := raw
	var tlsDetail string
	var tlsTime time.Duration
	if cfg != nil {
		start := time.Now()
		tc, detail, err := r.handshake(raw, cfg, ts)
		tlsTime = time.Since(start)
		if err != nil {
			r.record("TLS handshake", tlsTime, "", err)
			return r.report
		}
		conn, tlsDetail = tc, detail
	}
	start := time.Now()
	res, err := options(conn, target, from)
	took := time.Since(start)
	if cfg != nil {
		// Under TLS 1.3 a refused client certificate shows only now.
		if refused := refusal(err, cfg); refused != nil {
			r.record("TLS handshake", tlsTime+took, "", refused)
			return r.report
		}
		r.record("TLS handshake", tlsTime, tlsDetail, nil)
	}
	if err == nil && !res.IsSuccess() {
		err = fmt.Errorf("OPTIONS %d %s: the server refused the request from %s", res.StatusCode, res.Reason, from)
	}
	detail := ""
	if err == nil {
		detail = fmt.Sprintf("%d %s in %s", res.StatusCode, res.Reason, ms(took))
	}
	r.record("OPTIONS", took, detail, err)
	return r.report
}

// locateSIP returns the first target for c.Server and how it was found.
func locateSIP(ctx context.Context, c config.SIPConfig) (locate.Target, string, error) {
	transport, err := locate.ParseTransport(c.Transport)
	if err != nil {
		return locate.Target{}, "", err
	}
	servers, err := locate.New(c.Server, c.Transport, nil, 0)
	if err != nil {
		return locate.Target{}, "", err
	}
	if s, ok := servers.(locate.Static); ok {
		t := locate.Target(s)
		return t, fmt.Sprintf("configured %s", t), nil
	}
	targets, err := locate.Resolve(ctx, locate.NewResolver(c.DNSServer), c.Server, transport)
	if err != nil {
		return locate.Target{}, "", err
	}
	t := targets[0]
	service := "_sips._tcp."
	if t.Transport == locate.TCP {
		service = "_sip._tcp."
	}
	if host, _, _ := net.SplitHostPort(t.Addr); strings.EqualFold(host, c.Server) && len(targets) == 1 {
		return t, fmt.Sprintf("no SRV records for %s: using %s (RFC 3263 default)", c.Server, t), nil
	}
	more := ""
	if len(targets) > 1 {
		more = fmt.Sprintf(" (first of %d targets)", len(targets))
	}
	return t, fmt.Sprintf("dns SRV %s%s → %s%s", service, c.Server, t, more), nil
}

// sipTLS runs the steps that build the TLS client configuration as the
// app does (internal/app sipTLS): the client certificate by friendly name,
// the trust store, the server name (the configured one, for SRV the
// domain, RFC 5922 §4, else the target's host). It returns nil after a
// failed step.
func (r *run) sipTLS(c config.SIPConfig, target locate.Target) (*tls.Config, trust) {
	t := c.TLS
	var cert *tls.Certificate
	if t.ClientPKCS12 == "" {
		r.step("load client certificate", func() (string, error) { return "none configured", nil })
	} else {
		password, err := config.Secret(t.ClientPKCS12Password, t.ClientPKCS12PasswordFile, "backend.sip.tls.client_pkcs12_password_file")
		r.secret(password)
		if err != nil {
			r.record("load client certificate", 0, "", err)
			return nil, trust{}
		}
		var ok bool
		if cert, ok = r.loadClientCert(t.ClientPKCS12, password, t.ClientFriendlyName); !ok {
			return nil, trust{}
		}
	}
	ts, ok := r.loadTrust(t.TrustStore)
	if !ok {
		return nil, trust{}
	}
	cfg := certs.ClientConfig(t.ServerName, ts.pool, cert)
	if cfg.ServerName == "" {
		if _, _, err := net.SplitHostPort(c.Server); err != nil {
			cfg.ServerName = c.Server // a domain located by SRV
		} else {
			cfg.ServerName, _, _ = net.SplitHostPort(target.Addr)
		}
	}
	return cfg, ts
}

// maxResponse bounds the OPTIONS answer read.
const maxResponse = 64 << 10

// options sends one OPTIONS from the identity from to the server over
// conn and returns the final answer.
func options(conn net.Conn, t locate.Target, from string) (*sip.Response, error) {
	var fromURI sip.Uri
	if err := sip.ParseUri(from, &fromURI); err != nil {
		return nil, fmt.Errorf("endpoint identity %q: %w", from, err)
	}
	host, port, err := sip.ParseAddr(t.Addr)
	if err != nil {
		return nil, err
	}
	lhost, lport, err := sip.ParseAddr(conn.LocalAddr().String())
	if err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: host, Port: port})
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: t.Transport,
		Host: lhost, Port: lport, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	f := &sip.FromHeader{Address: fromURI, Params: sip.NewParams()}
	f.Params.Add("tag", token())
	callID := sip.CallIDHeader(token())
	maxForwards := sip.MaxForwardsHeader(70)
	req.AppendHeader(via)
	req.AppendHeader(f)
	req.AppendHeader(&sip.ToHeader{Address: req.Recipient, Params: sip.NewParams()})
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS})
	req.AppendHeader(&maxForwards)
	req.AppendHeader(sip.NewHeader("User-Agent", "presenced probe"))
	req.AppendHeader(sip.NewHeader("Content-Length", "0"))
	if _, err := io.WriteString(conn, req.String()); err != nil {
		return nil, fmt.Errorf("send OPTIONS: %w", err)
	}
	return readResponse(conn)
}

// readResponse reads SIP messages off conn until a final response.
func readResponse(conn net.Conn) (*sip.Response, error) {
	stream := sip.NewParser().NewSIPStream()
	defer stream.Close()
	buf := make([]byte, 4096)
	total := 0
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			total += n
			_, _ = stream.Write(buf[:n])
			for {
				msg, _, perr := stream.ParseNext()
				if perr != nil {
					if !errors.Is(perr, io.ErrUnexpectedEOF) && !errors.Is(perr, sip.ErrParseSipPartial) {
						return nil, fmt.Errorf("read OPTIONS answer: %w", perr)
					}
					break
				}
				if res, ok := msg.(*sip.Response); ok && res.StatusCode >= 200 {
					return res, nil
				}
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil, errors.New("the server closed the connection without answering OPTIONS")
		case err != nil:
			return nil, fmt.Errorf("read OPTIONS answer: %w", err)
		case total > maxResponse:
			return nil, fmt.Errorf("read OPTIONS answer: no final answer in %d bytes", total)
		}
	}
}

// token returns a random hex token for tags and Call-IDs.
func token() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
