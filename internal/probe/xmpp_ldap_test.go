package probe_test

import (
	"testing"
	"time"

	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/directory/slapdtest"
	"github.com/presenced/presenced/internal/probe"
	"github.com/presenced/presenced/internal/sip/kamailiotest"
	"github.com/presenced/presenced/internal/xmpp/prosodytest"
)

func TestXMPP(t *testing.T) {
	privileged := prosodytest.Start(t, prosodytest.Options{Privileged: true})
	plain := prosodytest.Start(t, prosodytest.Options{})
	cluster := func(s *prosodytest.Server) config.XMPPCluster {
		return config.XMPPCluster{Name: "main", Domains: []string{s.Domain()}, Server: s.ComponentAddr(),
			TLS: "none", Component: s.Component(), Secret: s.Secret()}
	}
	with := func(s *prosodytest.Server, f func(*config.XMPPCluster)) config.XMPPCluster {
		c := cluster(s)
		f(&c)
		return c
	}
	all := []string{"connect", "component handshake", "privilege advertisement"}
	tests := []struct {
		name    string
		cfg     config.XMPPCluster
		timeout time.Duration
		steps   int
		failed  bool
		detail  string
	}{
		{"ok", cluster(privileged), 10 * time.Second, 3, false, "urn:xmpp:privilege:2 from example.com: message=outgoing, presence=roster, roster=both"},
		{"wrong secret", with(privileged, func(c *config.XMPPCluster) { c.Secret = "not-the-secret" }), 10 * time.Second, 2, true,
			"not-authorized (wrong secret?)"},
		{"privilege advertisement missing", cluster(plain), 2 * time.Second, 3, true,
			"privilege advertisement missing: no privilege advertisement from example.com"},
		{"connection refused", with(privileged, func(c *config.XMPPCluster) { c.Server = closedPort(t) }), 10 * time.Second, 1, true,
			"connection refused by 127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := probe.XMPP(ctx(t, tt.timeout), tt.cfg)
			check(t, r, all[:tt.steps], tt.failed, tt.detail, privileged.Secret(), plain.Secret(), "not-the-secret")
		})
	}
}

func TestLDAP(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.Options{BindPassword: "svc-Secret-1"})
	otherCA := kamailiotest.NewPKI(t).CAFile // a CA that did not issue slapd's certificate
	good := config.LDAPConfig{URL: s.URL(), StartTLS: true, TrustStore: s.CertFile(), ServerName: "127.0.0.1",
		BindDN: s.BindDN(), BindPassword: s.BindPassword(), Domain: "example.com"}
	with := func(f func(*config.LDAPConfig)) config.LDAPConfig {
		c := good
		f(&c)
		return c
	}
	starttls := []string{"parse URL", "load trust store", "connect", "StartTLS", "bind", "read rootDSE"}
	ldaps := []string{"parse URL", "load trust store", "connect", "bind", "read rootDSE"}
	tests := []struct {
		name   string
		cfg    config.LDAPConfig
		steps  []string
		failed bool
		detail string
	}{
		{"ok with StartTLS", good, starttls, false, "search base DC=example,DC=com is served"},
		{"ok over LDAPS", with(func(c *config.LDAPConfig) { c.URL, c.StartTLS = s.LDAPSURL(), false }), ldaps, false, "namingContexts"},
		{"invalid credentials", with(func(c *config.LDAPConfig) { c.BindPassword = "not-the-password" }), starttls[:5], true,
			"invalid credentials (49) for \"" + s.BindDN() + "\""},
		{"invalid credentials over LDAPS", with(func(c *config.LDAPConfig) {
			c.URL, c.StartTLS, c.BindPassword = s.LDAPSURL(), false, "not-the-password"
		}), ldaps[:4], true, "invalid credentials (49)"},
		{"search base not served", with(func(c *config.LDAPConfig) { c.Domain = "example.org" }), starttls, true,
			"search base DC=example,DC=org (directory.ldap.domain) is under none of the server's naming contexts"},
		{"LDAPS with an unknown CA", with(func(c *config.LDAPConfig) {
			c.URL, c.StartTLS, c.TrustStore = s.LDAPSURL(), false, otherCA
		}), ldaps[:3], true, "unknown CA"},
		{"connection refused", with(func(c *config.LDAPConfig) { c.URL = "ldap://" + closedPort(t) }), starttls[:3], true,
			"connection refused by 127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := probe.LDAP(ctx(t, 10*time.Second), tt.cfg)
			check(t, r, tt.steps, tt.failed, tt.detail, "svc-Secret-1", "not-the-password")
		})
	}
}
