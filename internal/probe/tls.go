package probe

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/certs"
)

// maxListed bounds the trust store certificates a detail names.
const maxListed = 3

// trust is a loaded trust store.
type trust struct {
	pool *x509.CertPool // nil: the system roots
	name string         // "trust store PATH" or "the system roots"
}

// loadTrust is the step "load trust store": path's certificates, or the
// system roots for an empty path.
func (r *run) loadTrust(path string) (trust, bool) {
	t := trust{name: "the system roots"}
	ok := r.step("load trust store", func() (string, error) {
		if path == "" {
			return "none configured: using the system roots", nil
		}
		pool, list, err := certs.LoadTrustStore(path)
		if err != nil {
			return "", err
		}
		t = trust{pool: pool, name: "trust store " + path}
		var names []string
		for _, c := range list[:min(len(list), maxListed)] {
			names = append(names, subject(c))
		}
		if len(list) > maxListed {
			names = append(names, fmt.Sprintf("and %d more", len(list)-maxListed))
		}
		return fmt.Sprintf("%d certificates from %s (%s)", len(list), path, strings.Join(names, "; ")), nil
	})
	return t, ok
}

// loadClientCert is the step "load client certificate": the key named
// name in the PKCS#12 file, refused when its certificate is not valid now.
func (r *run) loadClientCert(file, password, name string) (*tls.Certificate, bool) {
	var cert *tls.Certificate
	ok := r.step("load client certificate", func() (string, error) {
		c, err := certs.LoadClientCertificate(file, password, name)
		if err != nil {
			return "", err
		}
		leaf, now := c.Leaf, time.Now()
		switch {
		case now.After(leaf.NotAfter):
			return "", fmt.Errorf("%q in %s (%s) expired on %s", name, filepath.Base(file), subject(leaf), day(leaf.NotAfter))
		case now.Before(leaf.NotBefore):
			return "", fmt.Errorf("%q in %s (%s) is not valid before %s", name, filepath.Base(file), subject(leaf), day(leaf.NotBefore))
		}
		cert = &c
		return fmt.Sprintf("%s from %s (%s, issuer %s, expires %s)", name, filepath.Base(file),
			subject(leaf), leaf.Issuer.String(), day(leaf.NotAfter)), nil
	})
	return cert, ok
}

// handshake runs a TLS client handshake over raw and returns the
// connection and the step's detail, or an error explaining the failure.
// With TLS 1.3 the server checks a client certificate only after the
// client's side of the handshake is done: such a refusal shows on the
// first read, which callers pass to refusal.
func (r *run) handshake(raw net.Conn, cfg *tls.Config, t trust) (*tls.Conn, string, error) {
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(r.ctx); err != nil {
		return nil, "", handshakeError(err, cfg, t)
	}
	st := conn.ConnectionState()
	server := st.PeerCertificates[0]
	detail := fmt.Sprintf("%s, server %s (issuer %s), verified by %s for %q",
		tls.VersionName(st.Version), subject(server), server.Issuer.String(), t.name, cfg.ServerName)
	if len(cfg.Certificates) > 0 {
		detail += fmt.Sprintf(", client certificate %s sent", subject(cfg.Certificates[0].Leaf))
	} else {
		detail += ", no client certificate"
	}
	return conn, detail, nil
}

// handshakeError explains a failed handshake.
func handshakeError(err error, cfg *tls.Config, t trust) error {
	if refused := refusal(err, cfg); refused != nil {
		return refused
	}
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		c := unknown.Cert
		var v *tls.CertificateVerificationError
		if errors.As(err, &v) && len(v.UnverifiedCertificates) > 0 {
			c = v.UnverifiedCertificates[0] // the server's own, not the chain's top
		}
		return fmt.Errorf("unknown CA: server certificate %s (issuer %s) does not chain to a certificate of %s", subject(c), c.Issuer.String(), t.name)
	case errors.As(err, &host):
		return fmt.Errorf("server certificate does not match: %v (set server_name if the server is reached by another name)", host)
	case errors.As(err, &invalid):
		return fmt.Errorf("server certificate rejected: %v", invalid)
	}
	return fmt.Errorf("TLS handshake: %w", err)
}

// refusal explains err when it is a TLS alert from the server (during the
// handshake, or on the first read under TLS 1.3), else returns nil.
func refusal(err error, cfg *tls.Config) error {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" {
		return nil
	}
	alert := strings.TrimPrefix(op.Err.Error(), "tls: ")
	hint := ""
	switch {
	case len(cfg.Certificates) == 0 && (alert == "certificate required" || alert == "handshake failure"):
		hint = " (the server requires a client certificate and none is configured)"
	case len(cfg.Certificates) > 0 && (alert == "unknown certificate authority" || alert == "bad certificate" ||
		alert == "certificate unknown" || alert == "decrypt error"):
		hint = fmt.Sprintf(" (the server does not accept the client certificate %s issued by %s)",
			subject(cfg.Certificates[0].Leaf), cfg.Certificates[0].Leaf.Issuer.String())
	}
	return fmt.Errorf("handshake refused by the server: %s%s", alert, hint)
}

// subject names a certificate by its subject, "CN=x,O=y".
func subject(c *x509.Certificate) string {
	if c == nil {
		return "(none)"
	}
	return c.Subject.String()
}

// day formats t as a date, 2026-01-02.
func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }
