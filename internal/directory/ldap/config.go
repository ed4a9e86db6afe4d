package ldap

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/clock"
)

// The directory views Config.Source selects.
const (
	SourceLDAP = "ldap" // a domain controller: ports 389 (ldap) and 636 (ldaps)
	SourceGC   = "gc"   // a global catalog: ports 3268 and 3269, the whole forest
)

// Defaults of Config.
const (
	DefaultObjectFilter = "(objectClass=user)"
	DefaultPoolSize     = 4
	DefaultTimeout      = 5 * time.Second
	DefaultMaxSearch    = 100
	DefaultMaxScan      = 10000
)

// Config configures a Directory. Only URLs is required.
type Config struct {
	// URLs are the servers, tried in order when a connection is dialled:
	// "ldap://host:port", "ldaps://host:port", or a bare "host" or
	// "host:port" (ldap://). A missing port is the Source's: 389/636 for
	// SourceLDAP, 3268/3269 for SourceGC.
	URLs []string
	// Source is SourceLDAP (default) or SourceGC.
	Source string
	// Domain is the search base: a DN ("DC=example,DC=com"), or a DNS
	// name ("example.com" becomes "DC=example,DC=com"). Empty: the
	// server's rootDSE names it, defaultNamingContext when present (AD,
	// and slapd with an olcRootDSE file), else the first namingContexts
	// value (plain OpenLDAP); it is read once, on first use.
	Domain string
	// StartTLS upgrades ldap:// connections with the StartTLS operation
	// before binding; invalid with ldaps:// URLs.
	StartTLS bool
	// TLS configures ldaps:// and StartTLS (the caller's trust store in
	// RootCAs); nil: the system roots. ServerName defaults to the URL's
	// host.
	TLS *tls.Config
	// BindDN and BindPassword are the service account every connection
	// binds as; an empty BindDN means anonymous. The password is never
	// logged or put in an error.
	BindDN       string
	BindPassword string
	// Attributes names the attributes read (defaults: DefaultAttributes).
	Attributes Attributes
	// ObjectFilter selects the entries that are contacts (default
	// DefaultObjectFilter; in AD "(&(objectCategory=person)(objectClass=user))"
	// excludes computer accounts).
	ObjectFilter string
	// PoolSize is the most connections open at once (default 4).
	PoolSize int
	// Timeout bounds each call, waiting for a connection, dialling,
	// binding, a re-dial and every search page included (default 5s).
	Timeout time.Duration
	// MaxSearch caps the cards one Search returns; the caller's limit is
	// min'd with it (default 100).
	MaxSearch int
	// MaxScan caps the entries one Search reads (default 10000): a search
	// matching more returns the first cards by mail among the first
	// MaxScan entries.
	MaxScan int
	// Registry receives the metrics; nil: a private one.
	Registry prometheus.Registerer
	// Logger gets a component attribute; nil discards.
	Logger *slog.Logger
	// Clock times requests for the metrics; nil: the wall clock. Network
	// deadlines always use the wall clock.
	Clock clock.Clock
}

// LogValue logs c without its password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("urls", c.URLs), slog.String("source", c.Source),
		slog.String("domain", c.Domain), slog.Bool("starttls", c.StartTLS),
		slog.String("bind_dn", c.BindDN), slog.Bool("bind_password_set", c.BindPassword != ""),
		slog.Int("pool_size", c.PoolSize), slog.Duration("timeout", c.Timeout),
	)
}

// Attributes names the directory attributes each Entry field comes from;
// an empty field takes its DefaultAttributes value.
type Attributes struct {
	Mail            string
	ProxyAddresses  string
	DisplayName     string
	GivenName       string
	SN              string
	Title           string
	TelephoneNumber string
	Mobile          string
	SAMAccountName  string
	// Address is the presence address, e.g. msRTCSIP-PrimaryUserAddress
	// or an attribute holding an XMPP address.
	Address string
	// Enabled is a Boolean (TRUE/FALSE) saying whether presence is
	// enabled; absent means enabled.
	Enabled string
}

// DefaultAttributes are the Active Directory / Skype for Business names.
var DefaultAttributes = Attributes{
	Mail:            "mail",
	ProxyAddresses:  "proxyAddresses",
	DisplayName:     "displayName",
	GivenName:       "givenName",
	SN:              "sn",
	Title:           "title",
	TelephoneNumber: "telephoneNumber",
	Mobile:          "mobile",
	SAMAccountName:  "sAMAccountName",
	Address:         "msRTCSIP-PrimaryUserAddress",
	Enabled:         "msRTCSIP-UserEnabled",
}

// withDefaults fills the empty fields of a from DefaultAttributes.
func (a Attributes) withDefaults() Attributes {
	fill := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	d := DefaultAttributes
	fill(&a.Mail, d.Mail)
	fill(&a.ProxyAddresses, d.ProxyAddresses)
	fill(&a.DisplayName, d.DisplayName)
	fill(&a.GivenName, d.GivenName)
	fill(&a.SN, d.SN)
	fill(&a.Title, d.Title)
	fill(&a.TelephoneNumber, d.TelephoneNumber)
	fill(&a.Mobile, d.Mobile)
	fill(&a.SAMAccountName, d.SAMAccountName)
	fill(&a.Address, d.Address)
	fill(&a.Enabled, d.Enabled)
	return a
}

// card returns the attributes of a Card.
func (a Attributes) card() []string {
	return []string{a.Mail, a.DisplayName, a.GivenName, a.SN, a.Title, a.TelephoneNumber, a.Mobile, a.SAMAccountName}
}

// entry returns the attributes of an Entry.
func (a Attributes) entry() []string { return append(a.card(), a.Address, a.Enabled) }

// withDefaults returns c with every default applied, or what is wrong
// with it.
func (c Config) withDefaults() (Config, error) {
	if c.Source == "" {
		c.Source = SourceLDAP
	}
	if c.Source != SourceLDAP && c.Source != SourceGC {
		return c, fmt.Errorf("source %q is neither %q nor %q", c.Source, SourceLDAP, SourceGC)
	}
	if len(c.URLs) == 0 {
		return c, fmt.Errorf("no URLs")
	}
	c.Attributes = c.Attributes.withDefaults()
	if c.ObjectFilter == "" {
		c.ObjectFilter = DefaultObjectFilter
	}
	if _, err := goldap.CompileFilter(c.ObjectFilter); err != nil {
		return c, fmt.Errorf("object filter %q: %w", c.ObjectFilter, err)
	}
	if c.PoolSize <= 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxSearch <= 0 {
		c.MaxSearch = DefaultMaxSearch
	}
	if c.MaxScan <= 0 {
		c.MaxScan = DefaultMaxScan
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	return c, nil
}

// server is one parsed entry of Config.URLs.
// Server is a parsed server URL.
type Server struct {
	URL  string // normalised, scheme://host:port, for messages
	Addr string // host:port
	Host string // for tls.Config.ServerName
	TLS  bool   // ldaps://
}

// ParseURL parses raw ("ldap://h:p", "ldaps://h", "h", "h:p") with the
// default ports of source (SourceLDAP 389/636, SourceGC 3268/3269).
func ParseURL(raw, source string) (Server, error) {
	plain, secure := 389, 636
	if source == SourceGC {
		plain, secure = 3268, 3269
	}
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "ldap://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return Server{}, fmt.Errorf("URL %q: %w", raw, err)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return Server{}, fmt.Errorf("URL %q: only scheme://host:port is supported", raw)
	}
	var srv Server
	switch u.Scheme {
	case "ldap":
	case "ldaps":
		srv.TLS, plain = true, secure
	default:
		return Server{}, fmt.Errorf("URL %q: scheme %q is neither ldap nor ldaps", raw, u.Scheme)
	}
	srv.Host = u.Hostname()
	if srv.Host == "" {
		return Server{}, fmt.Errorf("URL %q: no host", raw)
	}
	port := u.Port()
	if port == "" {
		port = strconv.Itoa(plain)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Server{}, fmt.Errorf("URL %q: bad port %q", raw, port)
	}
	srv.Addr = net.JoinHostPort(srv.Host, port)
	srv.URL = u.Scheme + "://" + srv.Addr
	return srv, nil
}

// BaseDN returns the search base that domain names: a DN (it contains
// '=') is validated and returned as given; a DNS name becomes one DC
// component per label, "example.com" -> "DC=example,DC=com". Empty stays
// empty (the rootDSE decides).
func BaseDN(domain string) (string, error) {
	domain = strings.TrimSpace(domain)
	if domain == "" {
		return "", nil
	}
	if strings.Contains(domain, "=") {
		if _, err := goldap.ParseDN(domain); err != nil {
			return "", fmt.Errorf("domain DN %q: %w", domain, err)
		}
		return domain, nil
	}
	labels := strings.Split(strings.TrimSuffix(domain, "."), ".")
	for i, l := range labels {
		if !dnsLabel(l) {
			return "", fmt.Errorf("domain %q: %q is not a DNS label", domain, l)
		}
		labels[i] = "DC=" + l
	}
	return strings.Join(labels, ","), nil
}

// dnsLabel reports whether l is a DNS label: 1 to 63 letters, digits and
// inner hyphens.
func dnsLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
