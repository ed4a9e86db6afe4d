package app

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/emiago/sipgo/sip"

	sipbackend "github.com/presenced/presenced/internal/backend/sip"
	"github.com/presenced/presenced/internal/certs"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/sip/locate"
)

// sipTransport turns backend.sip into the connector's transport settings:
// the located server, the TLS client configuration (trust store, client
// certificate by friendly name) and the digest credentials. Errors name
// the key at fault.
func sipTransport(c config.SIPConfig) (sipbackend.Config, error) {
	var out sipbackend.Config
	out.Resolver = locate.NewResolver(c.DNSServer)
	servers, err := locate.New(c.Server, c.Transport, out.Resolver, 0)
	if err != nil {
		return out, fmt.Errorf("backend.sip.server: %w", err)
	}
	out.Servers = servers
	out.KeepAlive = c.KeepAlive
	if out.TLS, err = sipTLS(c); err != nil {
		return out, err
	}
	if out.Credentials, err = sipCredentials(c.Auth); err != nil {
		return out, err
	}
	return out, nil
}

// sipTLS builds the TLS client configuration: the trust store (the
// system's roots without one), the client certificate picked by friendly
// name, and the server name to verify (for a domain located by SRV, the
// domain, RFC 5922 §4; otherwise each target's host).
func sipTLS(c config.SIPConfig) (*tls.Config, error) {
	t := c.TLS
	var cert *tls.Certificate
	if t.ClientPKCS12 != "" {
		password, err := config.Secret(t.ClientPKCS12Password, t.ClientPKCS12PasswordFile, "backend.sip.tls.client_pkcs12_password_file")
		if err != nil {
			return nil, err
		}
		cc, err := certs.LoadClientCertificate(t.ClientPKCS12, password, t.ClientFriendlyName)
		if err != nil {
			return nil, fmt.Errorf("backend.sip.tls.client_pkcs12: %w", err)
		}
		cert = &cc
	}
	var cfg *tls.Config
	if t.TrustStore != "" {
		pool, _, err := certs.LoadTrustStore(t.TrustStore)
		if err != nil {
			return nil, fmt.Errorf("backend.sip.tls.trust_store: %w", err)
		}
		cfg = certs.ClientConfig(t.ServerName, pool, cert)
	} else {
		cfg = certs.ClientConfig(t.ServerName, nil, cert)
	}
	if cfg.ServerName == "" {
		if _, _, err := net.SplitHostPort(c.Server); err != nil {
			cfg.ServerName = c.Server // a domain located by SRV
		}
	}
	return cfg, nil
}

// sipCredentials returns the endpoints' digest credentials, or nil
// (trusted mode) without a password. The user name is
// backend.sip.auth.username, else the identity's own user part.
func sipCredentials(a config.SIPAuthConfig) (func(string) (string, string, bool), error) {
	password, err := config.Secret(a.Password, a.PasswordFile, "backend.sip.auth.password_file")
	if err != nil || password == "" {
		return nil, err
	}
	return func(identity string) (string, string, bool) {
		if a.Username != "" {
			return a.Username, password, true
		}
		var u sip.Uri
		if err := sip.ParseUri(identity, &u); err != nil || u.User == "" {
			return "", "", false
		}
		return u.User, password, true
	}, nil
}
