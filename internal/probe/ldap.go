package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/presenced/presenced/internal/certs"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/directory/ldap"
)

// LDAP checks directory.ldap as the directory would use it: "load trust
// store" (for ldaps:// or StartTLS), "connect" (with the TLS handshake for
// ldaps://), "StartTLS" when configured, "bind" as the service account and
// "read rootDSE", which must name a naming context (and, when
// c.Domain is set, the configured search base among them).
func LDAP(ctx context.Context, c config.LDAPConfig) Report {
	r, cancel := newRun(ctx)
	defer cancel()
	password, err := config.Secret(c.BindPassword, c.BindPasswordFile, "directory.ldap.bind_password_file")
	r.secret(password)
	if err != nil {
		r.record("read bind password", 0, "", err)
		return r.report
	}
	var srv ldap.Server
	if !r.step("parse URL", func() (d string, err error) {
		if srv, err = ldap.ParseURL(c.URL, c.Source); err != nil {
			err = fmt.Errorf("directory.ldap.url: %w", err)
		}
		return srv.URL, err
	}) {
		return r.report
	}
	var tlsCfg *tls.Config
	var t trust
	if srv.TLS || c.StartTLS {
		var ok bool
		if t, ok = r.loadTrust(c.TrustStore); !ok {
			return r.report
		}
		serverName := c.ServerName
		if serverName == "" {
			serverName = srv.Host
		}
		tlsCfg = certs.ClientConfig(serverName, t.pool, nil)
	}
	var conn *goldap.Conn
	if !r.step("connect", func() (d string, err error) {
		conn, d, err = r.ldapConnect(srv, tlsCfg, t)
		return d, err
	}) {
		return r.report
	}
	defer conn.Close()
	if c.StartTLS && !r.step("StartTLS", func() (string, error) {
		if err := conn.StartTLS(tlsCfg); err != nil {
			return "", handshakeError(err, tlsCfg, t)
		}
		st, _ := conn.TLSConnectionState()
		return fmt.Sprintf("%s, server %s, verified by %s", tls.VersionName(st.Version), subject(st.PeerCertificates[0]), t.name), nil
	}) {
		return r.report
	}
	if !r.step("bind", func() (string, error) { return bind(conn, c.BindDN, password, tlsCfg) }) {
		return r.report
	}
	r.step("read rootDSE", func() (string, error) { return readRootDSE(r.ctx, conn, c.Domain) })
	return r.report
}

// ldapConnect dials srv (with the TLS handshake for ldaps://) and starts
// an LDAP connection on it bounded by the run's deadline.
func (r *run) ldapConnect(srv ldap.Server, cfg *tls.Config, t trust) (*goldap.Conn, string, error) {
	raw, err := r.dial(srv.Addr)
	if err != nil {
		return nil, "", err
	}
	if err := r.deadline(raw); err != nil {
		raw.Close()
		return nil, "", err
	}
	detail := fmt.Sprintf("%s from %s", raw.RemoteAddr(), raw.LocalAddr())
	conn := raw
	if srv.TLS {
		tc, d, err := r.handshake(raw, cfg, t)
		if err != nil {
			raw.Close()
			return nil, "", err
		}
		conn, detail = tc, detail+", "+d
	} else if cfg == nil {
		detail += ", no TLS (the bind password crosses the network in clear)"
	}
	c := goldap.NewConn(conn, srv.TLS)
	c.Start()
	c.SetTimeout(time.Until(deadlineOf(r.ctx)))
	return c, detail, nil
}

// bind binds as dn and explains the usual refusals. go-ldap's errors hold
// the server's result, never the password.
func bind(c *goldap.Conn, dn, password string, cfg *tls.Config) (string, error) {
	if dn == "" {
		return "", errors.New("directory.ldap.bind_dn is empty: an anonymous directory cannot be searched reliably")
	}
	if password == "" {
		// An empty password is an unauthenticated bind (RFC 4513 §5.1.2),
		// which servers accept without checking anything.
		return "", fmt.Errorf("no bind password for %q", dn)
	}
	err := c.Bind(dn, password)
	var le *goldap.Error
	switch {
	case err == nil:
		return fmt.Sprintf("bound as %q", dn), nil
	case errors.As(err, &le) && le.ResultCode == goldap.LDAPResultInvalidCredentials:
		return "", fmt.Errorf("invalid credentials (49) for %q: wrong bind_dn or password", dn)
	case errors.As(err, &le) && le.ResultCode == goldap.LDAPResultConfidentialityRequired:
		return "", fmt.Errorf("confidentiality required (13): the server refuses binds without TLS; use ldaps:// or starttls")
	case cfg != nil:
		if refused := refusal(err, cfg); refused != nil {
			return "", refused
		}
	}
	return "", fmt.Errorf("bind as %q: %w", dn, err)
}

// readRootDSE reads the rootDSE's naming contexts and checks that the
// configured domain's base, if any, is among them.
func readRootDSE(ctx context.Context, c *goldap.Conn, domain string) (string, error) {
	limit := max(1, int(time.Until(deadlineOf(ctx)).Seconds()))
	req := goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, limit,
		false, "(objectClass=*)", []string{"defaultNamingContext", "namingContexts"}, nil)
	res, err := c.Search(req)
	if err != nil {
		return "", fmt.Errorf("rootDSE unreadable: %w", err)
	}
	if len(res.Entries) != 1 {
		return "", fmt.Errorf("rootDSE unreadable: %d entries (is reading the rootDSE allowed for the service account?)", len(res.Entries))
	}
	e := res.Entries[0]
	contexts := e.GetAttributeValues("namingContexts")
	def := e.GetAttributeValue("defaultNamingContext")
	if len(contexts) == 0 && def == "" {
		return "", errors.New("rootDSE unreadable: no namingContexts or defaultNamingContext (is reading the rootDSE allowed for the service account?)")
	}
	detail := fmt.Sprintf("namingContexts %s", strings.Join(contexts, "; "))
	if def != "" {
		detail += ", defaultNamingContext " + def
	}
	base, err := ldap.BaseDN(domain)
	if err != nil || base == "" {
		return detail, err
	}
	want, err := goldap.ParseDN(base)
	if err != nil {
		return "", err
	}
	for _, nc := range append(contexts, def) {
		if got, err := goldap.ParseDN(nc); err == nil && (want.EqualFold(got) || got.AncestorOfFold(want)) {
			return detail + ", search base " + base + " is served", nil
		}
	}
	return "", fmt.Errorf("search base %s (directory.ldap.domain) is under none of the server's naming contexts (%s)", base, strings.Join(contexts, "; "))
}
