package config_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/config"
)

type validateCase struct {
	name   string
	mutate func(*config.Config)
	want   config.Problems
}

// rangeCases checks both sides of an inclusive range rule: lo and hi are
// valid, one step outside either is the problem "must be between lo and hi,
// got v" with show formatting the values.
func rangeCases[T int | int64 | time.Duration](key string, lo, hi, step T, show func(T) string, set func(*config.Config, T)) []validateCase {
	var cases []validateCase
	for _, v := range []T{lo - step, lo, hi, hi + step} {
		c := validateCase{
			name:   fmt.Sprintf("%s=%s", key, show(v)),
			mutate: func(c *config.Config) { set(c, v) },
		}
		if v < lo || v > hi {
			c.want = config.Problems{{Key: key, Message: fmt.Sprintf("must be between %s and %s, got %s", show(lo), show(hi), show(v))}}
		}
		cases = append(cases, c)
	}
	return cases
}

func showInt[T int | int64](v T) string { return fmt.Sprint(v) }

// showDuration writes whole minutes and hours as "10m" and "24h".
func showDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func TestValidateRanges(t *testing.T) {
	var cases []validateCase
	add := func(cs []validateCase) { cases = append(cases, cs...) }
	sec, ms := time.Second, time.Millisecond
	add(rangeCases("presence.subscription_ttl", 10*sec, 86400*sec, sec, showDuration, func(c *config.Config, v time.Duration) { c.Presence.SubscriptionTTL = v }))
	add(rangeCases("presence.max_contacts_per_request", 1, 100000, 1, showInt, func(c *config.Config, v int) { c.Presence.MaxContactsPerRequest = v }))
	add(rangeCases("presence.max_subscriptions_per_user", 1, 100000, 1, showInt, func(c *config.Config, v int) { c.Presence.MaxSubscriptionsPerUser = v }))
	add(rangeCases("presence.coalesce_interval", 0, time.Minute, ms, showDuration, func(c *config.Config, v time.Duration) { c.Presence.CoalesceInterval = v }))
	add(rangeCases("presence.watch_linger", 0, time.Hour, sec, showDuration, func(c *config.Config, v time.Duration) { c.Presence.WatchLinger = v }))
	add(rangeCases("backend.max_subscriptions_per_endpoint", 1, 5000, 1, showInt, func(c *config.Config, v int) { c.Backend.MaxSubscriptionsPerEndpoint = v }))
	add(rangeCases("push.timeout", 100*ms, time.Minute, ms, showDuration, func(c *config.Config, v time.Duration) { c.Push.Timeout = v }))
	add(rangeCases("push.max_attempts", 1, 100, 1, showInt, func(c *config.Config, v int) { c.Push.MaxAttempts = v }))
	add(rangeCases("http.max_body_bytes", 1024, 64<<20, 1, showInt, func(c *config.Config, v int64) { c.HTTP.MaxBodyBytes = v }))
	add(rangeCases("http.shutdown_timeout", sec, 10*time.Minute, sec, showDuration, func(c *config.Config, v time.Duration) { c.HTTP.ShutdownTimeout = v }))
	add(rangeCases("stream.queue_size", 1, 65536, 1, showInt, func(c *config.Config, v int) { c.Stream.QueueSize = v }))
	add(rangeCases("stream.ping_interval", sec, 10*time.Minute, sec, showDuration, func(c *config.Config, v time.Duration) { c.Stream.PingInterval = v }))
	add(rangeCases("backend.sip.expires", 2*sec, 24*time.Hour, sec, showDuration, func(c *config.Config, v time.Duration) { c.Backend.SIP.Expires = v }))
	add(rangeCases("backend.sip.keepalive", sec, 5*time.Minute, sec, showDuration, func(c *config.Config, v time.Duration) { c.Backend.SIP.KeepAlive = v }))
	add(rangeCases("backend.sip.endpoint_count", 1, 100, 1, showInt, func(c *config.Config, v int) { c.Backend.SIP.EndpointCount = v }))
	add(rangeCases("directory.ldap.pool_size", 1, 64, 1, showInt, func(c *config.Config, v int) { c.Directory.LDAP.PoolSize = v }))
	add(rangeCases("directory.ldap.max_results", 1, 1000, 1, showInt, func(c *config.Config, v int) { c.Directory.LDAP.MaxResults = v }))
	add(rangeCases("directory.ldap.timeout", 100*ms, time.Minute, ms, showDuration, func(c *config.Config, v time.Duration) { c.Directory.LDAP.Timeout = v }))
	add(rangeCases("stream.write_delay", 0, sec, time.Millisecond, showDuration, func(c *config.Config, v time.Duration) { c.Stream.WriteDelay = v }))
	runValidateCases(t, cases)
}

func TestValidateRules(t *testing.T) {
	p := func(key, msg string) config.Problems { return config.Problems{{Key: key, Message: msg}} }
	const needHTTPS = "must use https unless the host is loopback (127.0.0.0/8, ::1, localhost)"
	runValidateCases(t, []validateCase{
		{"listen host:port", func(c *config.Config) { c.Listen = "[::1]:0" }, nil},
		{"listen without port", func(c *config.Config) { c.Listen = "localhost" }, p("listen", `must be host:port, e.g. ":8080", got "localhost"`)},
		{"listen named port", func(c *config.Config) { c.Listen = ":http" }, p("listen", `port must be a number 0..65535, got "http"`)},
		{"admin_listen port too large", func(c *config.Config) { c.AdminListen = "127.0.0.1:65536" }, p("admin_listen", `port must be a number 0..65535, got "65536"`)},
		{"listeners collide", func(c *config.Config) { c.AdminListen = c.Listen }, p("admin_listen", "must differ from listen")},
		{"data_dir empty", func(c *config.Config) { c.DataDir = " " }, p("data_dir", "must not be empty")},

		{"log.level debug", func(c *config.Config) { c.Log.Level = "debug" }, nil},
		{"log.level upper case", func(c *config.Config) { c.Log.Level = "INFO" }, p("log.level", `must be one of debug, info, warn, error, got "INFO"`)},
		{"log.format text", func(c *config.Config) { c.Log.Format = "text" }, nil},
		{"log.format xml", func(c *config.Config) { c.Log.Format = "xml" }, p("log.format", `must be one of json, text, got "xml"`)},

		{"domains valid", func(c *config.Config) { c.Allowlist.Domains = []string{"a-b.example.com", "x1.io", "localhost"} }, nil},
		{"domain empty label", func(c *config.Config) { c.Allowlist.Domains = []string{"a..com"} }, p("allowlist.domains", `invalid domain "a..com": empty label`)},
		{"domain trailing dot", func(c *config.Config) { c.Allowlist.Domains = []string{"a.com."} }, p("allowlist.domains", `invalid domain "a.com.": empty label`)},
		{"domain underscore", func(c *config.Config) { c.Allowlist.Domains = []string{"a_b.com"} }, p("allowlist.domains", `invalid domain "a_b.com": invalid character '_'`)},
		{"domain hyphen edge", func(c *config.Config) { c.Allowlist.Domains = []string{"-a.com"} }, p("allowlist.domains", `invalid domain "-a.com": label starts or ends with a hyphen`)},
		{"domain empty", func(c *config.Config) { c.Allowlist.Domains = []string{""} }, p("allowlist.domains", `invalid domain "": empty`)},
		{"domain 253 characters", func(c *config.Config) { c.Allowlist.Domains = []string{longDomain(253)} }, nil},
		{"domain 254 characters", func(c *config.Config) { c.Allowlist.Domains = []string{longDomain(254)} }, p("allowlist.domains", fmt.Sprintf("invalid domain %q: longer than 253 characters", longDomain(254)))},
		{"domain label 64 characters", func(c *config.Config) { c.Allowlist.Domains = []string{strings.Repeat("a", 64) + ".com"} }, p("allowlist.domains", fmt.Sprintf("invalid domain %q: label longer than 63 characters", strings.Repeat("a", 64)+".com"))},
		{"every bad domain is listed", func(c *config.Config) { c.Allowlist.Domains = []string{"a..b", "ok.com", "c d"} }, config.Problems{
			{Key: "allowlist.domains", Message: `invalid domain "a..b": empty label`},
			{Key: "allowlist.domains", Message: `invalid domain "c d": invalid character ' '`},
		}},

		{"backend sip", func(c *config.Config) {
			c.Backend.Kind, c.Backend.SIP.Server, c.Backend.SIP.Domain = config.BackendSIP, "127.0.0.1:5060", "example.com"
		}, nil},
		{"backend sip with endpoints, no domain", func(c *config.Config) {
			c.Backend.Kind, c.Backend.SIP.Server = config.BackendSIP, "sip.example.com:5061"
			c.Backend.Endpoints = []string{"sip:presence_a@example.com", "sips:presence_b@example.com"}
		}, nil},
		{"backend sip by SRV over tcp", func(c *config.Config) {
			c.Backend.Kind, c.Backend.SIP.Server, c.Backend.SIP.Domain = config.BackendSIP, "example.com", "example.com"
			c.Backend.SIP.Transport, c.Backend.SIP.DNSServer = "tcp", "127.0.0.1:5353"
		}, nil},
		{"backend sip incomplete", func(c *config.Config) {
			c.Backend.Kind, c.Backend.SIP.Server = config.BackendSIP, "sip:sip.example.com"
			c.Backend.SIP.Transport, c.Backend.SIP.DNSServer = "udp", "127.0.0.1"
		}, config.Problems{
			{Key: "backend.sip.dns_server", Message: `must be host:port, got "127.0.0.1"`},
			{Key: "backend.sip.domain", Message: "is required when backend.endpoints is empty (the default endpoint is sip:presence_<host>@<domain>)"},
			{Key: "backend.sip.server", Message: `must be host:port or a domain of the presence server, got "sip:sip.example.com"`},
			{Key: "backend.sip.transport", Message: `must be one of tls, tcp, got "udp"`},
		}},
		{"backend sip tls and auth keys", func(c *config.Config) {
			c.Backend.Kind, c.Backend.SIP.Server, c.Backend.SIP.Domain = config.BackendSIP, "127.0.0.1:5061", "example.com"
			c.Backend.SIP.TLS = config.SIPTLSConfig{ClientPKCS12: "gw.p12", ClientPKCS12Password: "x", ClientPKCS12PasswordFile: "pw"}
			c.Backend.SIP.Auth = config.SIPAuthConfig{Username: "presence", Password: "p", PasswordFile: "f"}
		}, config.Problems{
			{Key: "backend.sip.auth.password_file", Message: "set it or backend.sip.auth.password, not both"},
			{Key: "backend.sip.tls.client_friendly_name", Message: "is required with backend.sip.tls.client_pkcs12"},
			{Key: "backend.sip.tls.client_pkcs12_password_file", Message: "set it or backend.sip.tls.client_pkcs12_password, not both"},
		}},
		{"backend sip tls keys without a file, user without a password", func(c *config.Config) {
			c.Backend.Kind, c.Backend.SIP.Server, c.Backend.SIP.Domain = config.BackendSIP, "127.0.0.1:5061", "example.com"
			c.Backend.SIP.TLS.ClientFriendlyName = "gw"
			c.Backend.SIP.Auth.Username = "presence"
		}, config.Problems{
			{Key: "backend.sip.auth.password", Message: "is required with backend.sip.auth.username"},
			{Key: "backend.sip.tls.client_pkcs12", Message: "is required with the other backend.sip.tls.client_* keys"},
		}},
		{"backend sip endpoints not URIs", func(c *config.Config) {
			c.Backend.Kind, c.Backend.SIP.Server = config.BackendSIP, "127.0.0.1:5060"
			c.Backend.Endpoints = []string{"presence_a", "sip:<x>@example.com"}
		}, config.Problems{
			{Key: "backend.endpoints", Message: `entry 1 ("presence_a") must be a sip: or sips: URI with kind sip`},
			{Key: "backend.endpoints", Message: `entry 2 ("sip:<x>@example.com") must be a sip: or sips: URI with kind sip`},
		}},
		{"backend xmpp", func(c *config.Config) {
			c.Backend.Kind = config.BackendXMPP
			c.Backend.XMPP.Clusters = []config.XMPPCluster{{Name: "main", Server: "127.0.0.1:5347", Component: "presence.example.com", Secret: "s", XMPPDomain: "example.com"}}
		}, nil},
		{"directory ldap", func(c *config.Config) {
			c.Directory.Kind = config.DirectoryLDAP
			c.Directory.LDAP.URL, c.Directory.LDAP.BindDN, c.Directory.LDAP.BindPassword = "ldap://dc1.example.com", "CN=svc,DC=example,DC=com", "pw"
			c.Directory.LDAP.Source, c.Directory.LDAP.Domain, c.Directory.LDAP.StartTLS = "gc", "example.com", true
		}, nil},
		{"directory ldap incomplete", func(c *config.Config) {
			c.Directory.Kind = config.DirectoryLDAP
			c.Directory.LDAP.URL, c.Directory.LDAP.StartTLS, c.Directory.LDAP.Source = "ldaps://dc1.example.com:636", true, "forest"
			c.Directory.LDAP.Filter = "objectClass=user"
		}, config.Problems{
			{Key: "directory.ldap.bind_dn", Message: "is required with directory.kind ldap (anonymous binds are not supported)"},
			{Key: "directory.ldap.bind_password", Message: "is required with directory.kind ldap (or bind_password_file, or PRESENCED_DIRECTORY_LDAP_BIND_PASSWORD)"},
			{Key: "directory.ldap.filter", Message: `must be an LDAP filter in parentheses, got "objectClass=user"`},
			{Key: "directory.ldap.source", Message: `must be one of ldap, gc, got "forest"`},
			{Key: "directory.ldap.starttls", Message: "cannot be used with an ldaps:// URL (already TLS)"},
		}},
		{"directory ldap bad url", func(c *config.Config) {
			c.Directory.Kind = config.DirectoryLDAP
			c.Directory.LDAP.URL, c.Directory.LDAP.BindDN, c.Directory.LDAP.BindPassword = "http://dc1", "cn=svc", "pw"
		}, p("directory.ldap.url", "must be ldap://host[:port], ldaps://host[:port] or a host")},
		{"backend xmpp without clusters", func(c *config.Config) { c.Backend.Kind = config.BackendXMPP }, p("backend.xmpp.clusters", "at least one cluster is required with kind xmpp")},
		{"backend xmpp clusters at fault", func(c *config.Config) {
			c.Backend.Kind, c.Backend.XMPP.Mode = config.BackendXMPP, config.XMPPAccounts
			c.Backend.Endpoints = []string{"x"}
			c.Backend.XMPP.Clusters = []config.XMPPCluster{
				{Name: "a", Server: "a.example.com:5222", Accounts: []string{"ep1@a.example.com", "ep1@a.example.com"}, Password: "p", TLS: "none"},
				{Name: "a", Server: "b.example.com", Domains: []string{"a.example.com", "bad..com"}, Accounts: []string{"ep/1"}},
				{Name: "c", Server: "c.example.com:5222", Domains: []string{"A.example.com"}, Accounts: []string{"ep@c"}, PasswordFile: "f", Password: "p"},
			}
		}, config.Problems{
			{Key: "backend.endpoints", Message: "must be empty with kind xmpp (the endpoints are the clusters' components or accounts)"},
			{Key: "backend.xmpp.clusters", Message: `item 1 ("a"): account "ep1@a.example.com" is listed twice`},
			{Key: "backend.xmpp.clusters", Message: `item 1 ("a"): tls none is refused in accounts mode (passwords would cross the network in clear)`},
			{Key: "backend.xmpp.clusters", Message: `item 2 ("a"): account "ep/1" is not a bare JID (local@domain)`},
			{Key: "backend.xmpp.clusters", Message: `item 2 ("a"): domains: domain "bad..com": empty label`},
			{Key: "backend.xmpp.clusters", Message: `item 2 ("a"): name is used by another cluster`},
			{Key: "backend.xmpp.clusters", Message: `item 2 ("a"): password or password_file is required in accounts mode`},
			{Key: "backend.xmpp.clusters", Message: `item 2 ("a"): server must be host:port, got "b.example.com"`},
			{Key: "backend.xmpp.clusters", Message: `item 3 ("c"): domain "a.example.com" is served by cluster "a" too`},
			{Key: "backend.xmpp.clusters", Message: `item 3 ("c"): set password or password_file, not both`},
		}},
		{"backend unknown", func(c *config.Config) { c.Backend.Kind = "lync" }, p("backend.kind", `must be one of native, sip, xmpp, got "lync"`)},
		{"endpoints valid", func(c *config.Config) { c.Backend.Endpoints = []string{"a", "b"} }, nil},
		{"endpoints empty and duplicate", func(c *config.Config) { c.Backend.Endpoints = []string{"a", " ", "a"} }, config.Problems{
			{Key: "backend.endpoints", Message: `duplicate endpoint "a"`},
			{Key: "backend.endpoints", Message: "entry 2 is empty"},
		}},

		{"push https", func(c *config.Config) { c.Push.WebhookURL, c.Push.Secret = "https://relay.example.com/hook", "k" }, nil},
		{"push http 127.0.0.0/8", func(c *config.Config) { c.Push.WebhookURL, c.Push.Secret = "http://127.0.0.5:9000/hook", "k" }, nil},
		{"push http ::1", func(c *config.Config) { c.Push.WebhookURL, c.Push.Secret = "http://[::1]:9000/hook", "k" }, nil},
		{"push http localhost", func(c *config.Config) { c.Push.WebhookURL, c.Push.Secret = "http://localhost/hook", "k" }, nil},
		{"push http remote", func(c *config.Config) { c.Push.WebhookURL, c.Push.Secret = "http://relay.example.com/hook", "k" }, p("push.webhook_url", needHTTPS)},
		{"push http lookalike", func(c *config.Config) { c.Push.WebhookURL, c.Push.Secret = "http://127.0.0.1.example.com/", "k" }, p("push.webhook_url", needHTTPS)},
		{"push relative", func(c *config.Config) { c.Push.WebhookURL, c.Push.Secret = "relay/hook", "k" }, p("push.webhook_url", "must be an absolute http or https URL")},
		{"push ftp", func(c *config.Config) { c.Push.WebhookURL, c.Push.Secret = "ftp://relay.example.com/", "k" }, p("push.webhook_url", "must be an absolute http or https URL")},
		{"push no host", func(c *config.Config) { c.Push.WebhookURL, c.Push.Secret = "https:///hook", "k" }, p("push.webhook_url", "must have a host")},
		{"push unparsable, secret not echoed", func(c *config.Config) { c.Push.WebhookURL, c.Push.Secret = "https://u:pw@[bad/", "k" }, p("push.webhook_url", `invalid URL: missing ']' in host`)},
		{"push secret required", func(c *config.Config) { c.Push.WebhookURL = "https://relay.example.com/hook" }, p("push.secret", "required when push.webhook_url is set")},

		{"tls both", func(c *config.Config) { c.TLS = config.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem"} }, nil},
		{"tls cert only", func(c *config.Config) { c.TLS.CertFile = "c.pem" }, p("tls.key_file", "required when tls.cert_file is set")},
		{"tls key only", func(c *config.Config) { c.TLS.KeyFile = "k.pem" }, p("tls.cert_file", "required when tls.key_file is set")},

		{"oidc https", func(c *config.Config) {
			c.Auth.OIDC.Issuer, c.Auth.OIDC.Audience = "https://idp.example.com/realms/x", "presenced"
		}, nil},
		{"oidc http loopback", func(c *config.Config) {
			c.Auth.OIDC.Issuer, c.Auth.OIDC.Audience = "http://127.0.0.1:5556", "presenced"
		}, nil},
		{"oidc http remote", func(c *config.Config) {
			c.Auth.OIDC.Issuer, c.Auth.OIDC.Audience = "http://idp.example.com", "presenced"
		}, p("auth.oidc.issuer", needHTTPS)},
		{"oidc query", func(c *config.Config) {
			c.Auth.OIDC.Issuer, c.Auth.OIDC.Audience = "https://idp.example.com/?a=b", "presenced"
		}, p("auth.oidc.issuer", "must not have a query or fragment")},
		{"oidc audience required", func(c *config.Config) { c.Auth.OIDC.Issuer = "https://idp.example.com" }, p("auth.oidc.audience", "required when auth.oidc.issuer is set")},
		{"oidc email_claim empty", func(c *config.Config) { c.Auth.OIDC.EmailClaim = "" }, p("auth.oidc.email_claim", "must not be empty")},

		{"rate unlimited", func(c *config.Config) { c.Auth.RateLimit.RequestsPerSecond = 0 }, nil},
		{"rate fractional", func(c *config.Config) { c.Auth.RateLimit.RequestsPerSecond = 0.5 }, nil},
		{"rate negative", func(c *config.Config) { c.Auth.RateLimit.RequestsPerSecond = -0.5 }, p("auth.rate_limit.requests_per_second", "must be a finite number >= 0 (0 = unlimited), got -0.5")},
		{"rate NaN", func(c *config.Config) { c.Auth.RateLimit.RequestsPerSecond = math.NaN() }, p("auth.rate_limit.requests_per_second", "must be a finite number >= 0 (0 = unlimited), got NaN")},
		{"rate infinite", func(c *config.Config) { c.Auth.RateLimit.RequestsPerSecond = math.Inf(1) }, p("auth.rate_limit.requests_per_second", "must be a finite number >= 0 (0 = unlimited), got +Inf")},
		{"burst 1", func(c *config.Config) { c.Auth.RateLimit.Burst = 1 }, nil},
		{"burst 0", func(c *config.Config) { c.Auth.RateLimit.Burst = 0 }, p("auth.rate_limit.burst", "must be >= 1, got 0")},

		{"read_header_timeout 1ns", func(c *config.Config) { c.HTTP.ReadHeaderTimeout = 1 }, nil},
		{"read_header_timeout 0", func(c *config.Config) { c.HTTP.ReadHeaderTimeout = 0 }, p("http.read_header_timeout", "must be > 0, got 0s")},

		{"store postgres", func(c *config.Config) { c.Store.Kind = "postgres" }, p("store.kind", `unsupported store "postgres" (only "sqlite" is available for now)`)},
		{"state redis", func(c *config.Config) { c.State.Kind = "redis" }, p("state.kind", `unsupported state "redis" (only "memory" is available for now)`)},
	})
}

// longDomain returns a valid domain of exactly n characters.
func longDomain(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		label := min(63, n-b.Len())
		b.WriteString(strings.Repeat("a", label))
	}
	return b.String()
}

func runValidateCases(t *testing.T, cases []validateCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.mutate(&c)
			if diff := cmp.Diff(tt.want, c.Validate()); diff != "" {
				t.Errorf("Validate() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	c := config.Default()
	c.DataDir = "/data"
	if got, want := c.SQLitePath(), "/data/presenced.db"; got != want {
		t.Errorf("SQLitePath() = %q, want %q", got, want)
	}
	c.Store.SQLitePath = "/elsewhere/p.db"
	if got, want := c.SQLitePath(), "/elsewhere/p.db"; got != want {
		t.Errorf("SQLitePath() = %q, want %q", got, want)
	}

	got := map[string]bool{
		"push":  c.Push.Enabled(),
		"tls":   c.TLS.Enabled(),
		"oidc":  c.Auth.OIDC.Enabled(),
		"push2": config.PushConfig{WebhookURL: "https://x"}.Enabled(),
		"tls2":  config.TLSConfig{CertFile: "c", KeyFile: "k"}.Enabled(),
		"oidc2": config.OIDCConfig{Issuer: "https://x"}.Enabled(),
	}
	want := map[string]bool{"push": false, "tls": false, "oidc": false, "push2": true, "tls2": true, "oidc2": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Enabled() (-want +got):\n%s", diff)
	}

	levels := map[string]string{}
	for _, l := range []string{"debug", "info", "warn", "error", "bogus"} {
		levels[l] = config.LogConfig{Level: l}.SlogLevel().String()
	}
	wantLevels := map[string]string{"debug": "DEBUG", "info": "INFO", "warn": "WARN", "error": "ERROR", "bogus": "INFO"}
	if diff := cmp.Diff(wantLevels, levels); diff != "" {
		t.Errorf("SlogLevel() (-want +got):\n%s", diff)
	}
}

func TestLogHandler(t *testing.T) {
	tests := []struct {
		format, level string
		want          string // the output of one Debug and one Warn record, without the time
	}{
		{"json", "info", `{"level":"WARN","msg":"w"}` + "\n"},
		{"text", "debug", "level=DEBUG msg=d\nlevel=WARN msg=w\n"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var b strings.Builder
			h := config.LogConfig{Level: tt.level, Format: tt.format}.Handler(&b)
			logger := slog.New(&dropTime{h})
			logger.Debug("d")
			logger.Warn("w")
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("log output (-want +got):\n%s", diff)
			}
		})
	}
}

// dropTime zeroes record times so that output is exact.
type dropTime struct{ slog.Handler }

func (d *dropTime) Handle(ctx context.Context, r slog.Record) error {
	r.Time = time.Time{}
	return d.Handler.Handle(ctx, r)
}
