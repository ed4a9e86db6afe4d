package config

import (
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/allowlist"
)

// Validate checks the semantic rules stated on each field and returns every
// violation, sorted by key; nil when c is valid. Messages never contain a
// secret or a URL (which may carry credentials).
func (c Config) Validate() Problems {
	var ps Problems
	checkAddr(&ps, "listen", c.Listen)
	checkAddr(&ps, "admin_listen", c.AdminListen)
	if c.Listen != "" && c.Listen == c.AdminListen {
		ps.add("admin_listen", "must differ from listen")
	}
	if strings.TrimSpace(c.DataDir) == "" {
		ps.add("data_dir", "must not be empty")
	}
	oneOf(&ps, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf(&ps, "log.format", c.Log.Format, "json", "text")
	c.Presence.validate(&ps)
	c.Allowlist.validate(&ps)
	c.Backend.validate(&ps)
	c.Directory.validate(&ps)
	if g := c.Dashboard.DirectoryGroup; g != "" {
		switch {
		case c.Directory.Kind != DirectoryLDAP:
			ps.add("dashboard.directory_group", "needs directory.kind ldap")
		case !strings.Contains(g, "=") || len(g) > 1024:
			ps.add("dashboard.directory_group", "must be the group's DN, e.g. CN=presenced-admins,OU=Groups,DC=example,DC=com")
		}
	}
	c.Push.validate(&ps)
	c.TLS.validate(&ps)
	c.Auth.validate(&ps)
	c.HTTP.validate(&ps)
	between(&ps, "stream.queue_size", c.Stream.QueueSize, 1, 65536)
	durationBetween(&ps, "stream.ping_interval", c.Stream.PingInterval, time.Second, 10*time.Minute)
	durationBetween(&ps, "stream.write_delay", c.Stream.WriteDelay, 0, time.Second)
	if c.Store.Kind != StoreSQLite {
		ps.add("store.kind", "unsupported store %q (only %q is available for now)", c.Store.Kind, StoreSQLite)
	}
	if c.State.Kind != StateMemory {
		ps.add("state.kind", "unsupported state %q (only %q is available for now)", c.State.Kind, StateMemory)
	}
	return ps.sorted()
}

func (p PresenceConfig) validate(ps *Problems) {
	durationBetween(ps, "presence.subscription_ttl", p.SubscriptionTTL, 10*time.Second, 86400*time.Second)
	between(ps, "presence.max_contacts_per_request", p.MaxContactsPerRequest, 1, 100000)
	between(ps, "presence.max_subscriptions_per_user", p.MaxSubscriptionsPerUser, 1, 100000)
	durationBetween(ps, "presence.coalesce_interval", p.CoalesceInterval, 0, time.Minute)
	durationBetween(ps, "presence.watch_linger", p.WatchLinger, 0, time.Hour)
}

func (a AllowlistConfig) validate(ps *Problems) {
	for _, d := range a.Domains {
		if err := allowlist.Validate(strings.ToLower(d)); err != nil {
			ps.add("allowlist.domains", "invalid %v", err)
		}
	}
}

func (b BackendConfig) validate(ps *Problems) {
	oneOf(ps, "backend.kind", b.Kind, BackendNative, BackendSIP, BackendXMPP)
	seen := map[string]bool{}
	for i, e := range b.Endpoints {
		switch {
		case strings.TrimSpace(e) == "":
			ps.add("backend.endpoints", "entry %d is empty", i+1)
		case seen[e]:
			ps.add("backend.endpoints", "duplicate endpoint %q", e)
		}
		seen[e] = true
	}
	between(ps, "backend.max_subscriptions_per_endpoint", b.MaxSubscriptionsPerEndpoint, 1, 5000)
	durationBetween(ps, "backend.sip.expires", b.SIP.Expires, 2*time.Second, 24*time.Hour)
	durationBetween(ps, "backend.sip.keepalive", b.SIP.KeepAlive, time.Second, 5*time.Minute)
	between(ps, "backend.sip.endpoint_count", b.SIP.EndpointCount, 1, 100)
	durationBetween(ps, "backend.xmpp.keepalive", b.XMPP.KeepAlive, time.Second, 5*time.Minute)
	if b.Kind == BackendXMPP {
		if len(b.Endpoints) > 0 {
			ps.add("backend.endpoints", "must be empty with kind xmpp (the endpoints are the clusters' components or accounts)")
		}
		b.XMPP.validate(ps)
	}
	if b.Kind != BackendSIP {
		return
	}
	b.SIP.validate(ps, len(b.Endpoints) == 0)
	for i, e := range b.Endpoints {
		if !strings.HasPrefix(e, "sip:") && !strings.HasPrefix(e, "sips:") || strings.ContainsAny(e, " \t\r\n<>\"") {
			ps.add("backend.endpoints", "entry %d (%q) must be a sip: or sips: URI with kind sip", i+1, e)
		}
	}
}

func (c SIPConfig) validate(ps *Problems, defaultEndpoints bool) {
	if !serverOrDomain(c.Server) {
		ps.add("backend.sip.server", "must be host:port or a domain of the presence server, got %q", c.Server)
	}
	oneOf(ps, "backend.sip.transport", c.Transport, "tls", "tcp")
	if defaultEndpoints && c.Domain == "" {
		ps.add("backend.sip.domain", "is required when backend.endpoints is empty (the default endpoint is sip:presence_<host>@<domain>)")
	}
	if c.DNSServer != "" {
		if _, port, err := net.SplitHostPort(c.DNSServer); err != nil || port == "" {
			ps.add("backend.sip.dns_server", "must be host:port, got %q", c.DNSServer)
		}
	}
	t := c.TLS
	if t.ClientPKCS12 != "" && t.ClientFriendlyName == "" {
		ps.add("backend.sip.tls.client_friendly_name", "is required with backend.sip.tls.client_pkcs12")
	}
	if t.ClientPKCS12 == "" && (t.ClientFriendlyName != "" || t.ClientPKCS12Password != "" || t.ClientPKCS12PasswordFile != "") {
		ps.add("backend.sip.tls.client_pkcs12", "is required with the other backend.sip.tls.client_* keys")
	}
	if t.ClientPKCS12Password != "" && t.ClientPKCS12PasswordFile != "" {
		ps.add("backend.sip.tls.client_pkcs12_password_file", "set it or backend.sip.tls.client_pkcs12_password, not both")
	}
	if c.Auth.Password != "" && c.Auth.PasswordFile != "" {
		ps.add("backend.sip.auth.password_file", "set it or backend.sip.auth.password, not both")
	}
	if c.Auth.Username != "" && c.Auth.Password == "" && c.Auth.PasswordFile == "" {
		ps.add("backend.sip.auth.password", "is required with backend.sip.auth.username")
	}
}

func (x XMPPConfig) validate(ps *Problems) {
	oneOf(ps, "backend.xmpp.mode", x.Mode, XMPPComponent, XMPPAccounts)
	const key = "backend.xmpp.clusters"
	if len(x.Clusters) == 0 {
		ps.add(key, "at least one cluster is required with kind xmpp")
	}
	names, domains, catchAll, accounts := map[string]bool{}, map[string]string{}, "", map[string]bool{}
	for i, c := range x.Clusters {
		item := func(format string, args ...any) {
			ps.add(key, "item %d (%q): "+format, append([]any{i + 1, c.Name}, args...)...)
		}
		switch {
		case c.Name == "":
			item("name is required")
		case names[c.Name]:
			item("name is used by another cluster")
		}
		names[c.Name] = true
		if _, port, err := net.SplitHostPort(c.Server); err != nil || port == "" {
			item("server must be host:port, got %q", c.Server)
		}
		if len(c.Domains) == 0 {
			if catchAll != "" {
				item("domains is empty, as in cluster %q: only one cluster may serve every other domain", catchAll)
			}
			catchAll = c.Name
		}
		for _, d := range c.Domains {
			d = strings.ToLower(d)
			if err := allowlist.Validate(d); err != nil {
				item("domains: %v", err)
			} else if other, dup := domains[d]; dup {
				item("domain %q is served by cluster %q too", d, other)
			}
			domains[d] = c.Name
		}
		if c.TLS != "" {
			oneOf(ps, key, c.TLS, "starttls", "direct", "none")
		}
		if c.Secret != "" && c.SecretFile != "" {
			item("set secret or secret_file, not both")
		}
		if c.Password != "" && c.PasswordFile != "" {
			item("set password or password_file, not both")
		}
		switch x.Mode {
		case XMPPComponent:
			if c.Component == "" {
				item("component is required in component mode")
			}
			if c.Secret == "" && c.SecretFile == "" {
				item("secret or secret_file is required in component mode")
			}
			if c.ComponentEndpoints < 0 || c.ComponentEndpoints > 1000 {
				item("component_endpoints must be between 0 (10) and 1000, got %d", c.ComponentEndpoints)
			}
			if c.XMPPDomain == "" && len(c.Domains) == 0 {
				item("xmpp_domain or domains is required in component mode (the domain that grants the privileges)")
			}
		case XMPPAccounts:
			if len(c.Accounts) == 0 {
				item("accounts is required in accounts mode")
			}
			if c.Password == "" && c.PasswordFile == "" {
				item("password or password_file is required in accounts mode")
			}
			if c.TLS == "none" {
				item("tls none is refused in accounts mode (passwords would cross the network in clear)")
			}
			for _, a := range c.Accounts {
				local, domain, ok := strings.Cut(a, "@")
				switch {
				case !ok || local == "" || domain == "" || strings.ContainsAny(a, "/ \t"):
					item("account %q is not a bare JID (local@domain)", a)
				case accounts[a]:
					item("account %q is listed twice", a)
				}
				accounts[a] = true
			}
		}
	}
}

func (d DirectoryConfig) validate(ps *Problems) {
	oneOf(ps, "directory.kind", d.Kind, DirectoryNone, DirectoryLDAP)
	l := d.LDAP
	durationBetween(ps, "directory.ldap.timeout", l.Timeout, 100*time.Millisecond, time.Minute)
	between(ps, "directory.ldap.pool_size", l.PoolSize, 1, 64)
	durationBetween(ps, "directory.ldap.positive_ttl", l.PositiveTTL, 0, 24*time.Hour)
	durationBetween(ps, "directory.ldap.negative_ttl", l.NegativeTTL, 0, 24*time.Hour)
	between(ps, "directory.ldap.max_results", l.MaxResults, 1, 1000)
	if d.Kind != DirectoryLDAP {
		return
	}
	oneOf(ps, "directory.ldap.source", l.Source, "ldap", "gc")
	if l.URL == "" {
		ps.add("directory.ldap.url", "is required with directory.kind ldap")
	} else if u, err := url.Parse(l.URL); strings.Contains(l.URL, "://") && (err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "") {
		ps.add("directory.ldap.url", "must be ldap://host[:port], ldaps://host[:port] or a host")
	}
	if strings.HasPrefix(l.URL, "ldaps://") && l.StartTLS {
		ps.add("directory.ldap.starttls", "cannot be used with an ldaps:// URL (already TLS)")
	}
	if l.BindDN == "" {
		ps.add("directory.ldap.bind_dn", "is required with directory.kind ldap (anonymous binds are not supported)")
	}
	if l.BindPassword == "" && l.BindPasswordFile == "" {
		ps.add("directory.ldap.bind_password", "is required with directory.kind ldap (or bind_password_file, or PRESENCED_DIRECTORY_LDAP_BIND_PASSWORD)")
	}
	if l.BindPassword != "" && l.BindPasswordFile != "" {
		ps.add("directory.ldap.bind_password_file", "set it or directory.ldap.bind_password, not both")
	}
	if !strings.HasPrefix(l.Filter, "(") || !strings.HasSuffix(l.Filter, ")") {
		ps.add("directory.ldap.filter", "must be an LDAP filter in parentheses, got %q", l.Filter)
	}
}

// serverOrDomain reports whether s is host:port (a port 1..65535) or a
// bare domain name.
func serverOrDomain(s string) bool {
	if host, port, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.ParseUint(port, 10, 16)
		return host != "" && err == nil && n > 0 && !strings.ContainsAny(host, "/@ ")
	}
	return s != "" && !strings.ContainsAny(s, ":/@ \t\r\n")
}

func (p PushConfig) validate(ps *Problems) {
	if p.WebhookURL != "" {
		checkURL(ps, "push.webhook_url", p.WebhookURL)
		if p.Secret == "" {
			ps.add("push.secret", "required when push.webhook_url is set")
		}
	}
	durationBetween(ps, "push.timeout", p.Timeout, 100*time.Millisecond, time.Minute)
	between(ps, "push.max_attempts", p.MaxAttempts, 1, 100)
}

func (t TLSConfig) validate(ps *Problems) {
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		ps.add("tls.key_file", "required when tls.cert_file is set")
	case t.CertFile == "" && t.KeyFile != "":
		ps.add("tls.cert_file", "required when tls.key_file is set")
	}
}

func (a AuthConfig) validate(ps *Problems) {
	if o := a.OIDC; o.Issuer != "" {
		if checkURL(ps, "auth.oidc.issuer", o.Issuer) {
			if u, _ := url.Parse(o.Issuer); u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
				ps.add("auth.oidc.issuer", "must not have a query or fragment")
			}
		}
		if o.Audience == "" {
			ps.add("auth.oidc.audience", "required when auth.oidc.issuer is set")
		}
	}
	if strings.TrimSpace(a.OIDC.EmailClaim) == "" {
		ps.add("auth.oidc.email_claim", "must not be empty")
	}
	rps := a.RateLimit.RequestsPerSecond
	if math.IsNaN(rps) || math.IsInf(rps, 0) || rps < 0 {
		ps.add("auth.rate_limit.requests_per_second", "must be a finite number >= 0 (0 = unlimited), got %v", rps)
	}
	if a.RateLimit.Burst < 1 {
		ps.add("auth.rate_limit.burst", "must be >= 1, got %d", a.RateLimit.Burst)
	}
}

func (h HTTPConfig) validate(ps *Problems) {
	between(ps, "http.max_body_bytes", h.MaxBodyBytes, 1<<10, 64<<20)
	if h.ReadHeaderTimeout <= 0 {
		ps.add("http.read_header_timeout", "must be > 0, got %s", formatDuration(h.ReadHeaderTimeout))
	}
	durationBetween(ps, "http.shutdown_timeout", h.ShutdownTimeout, time.Second, 10*time.Minute)
}

// checkAddr requires host:port with a numeric port.
func checkAddr(ps *Problems, key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		ps.add(key, "must be host:port, e.g. \":8080\", got %q", addr)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		ps.add(key, "port must be a number 0..65535, got %q", port)
	}
}

// checkURL requires an absolute http or https URL, https unless the host is
// loopback, and reports whether it parsed.
func checkURL(ps *Problems, key, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		var inner error = err
		if ue, ok := err.(*url.Error); ok {
			inner = ue.Err // the full error repeats the URL
		}
		ps.add(key, "invalid URL: %v", inner)
		return false
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		ps.add(key, "must be an absolute http or https URL")
	case u.Host == "":
		ps.add(key, "must have a host")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		ps.add(key, "must use https unless the host is loopback (127.0.0.0/8, ::1, localhost)")
	}
	return true
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func oneOf(ps *Problems, key, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		ps.add(key, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	}
}

func between[T int | int64](ps *Problems, key string, v, lo, hi T) {
	if v < lo || v > hi {
		ps.add(key, "must be between %d and %d, got %d", lo, hi, v)
	}
}

func durationBetween(ps *Problems, key string, v, lo, hi time.Duration) {
	if v < lo || v > hi {
		ps.add(key, "must be between %s and %s, got %s", formatDuration(lo), formatDuration(hi), formatDuration(v))
	}
}

// formatDuration is d.String() without zero trailing units: "10m", not
// "10m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
