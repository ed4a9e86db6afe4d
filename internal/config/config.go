// Package config is presenced's typed configuration: the Config struct with
// its defaults in one place (Default), loading in layers
// defaults -> YAML file -> PRESENCED_* environment -> flags (Load), and
// semantic validation that lists every problem with its key path
// (Config.Validate).
//
// Key paths are the snake_case YAML names joined by dots, e.g.
// "presence.subscription_ttl"; they are part of the public contract
// (API.md §2). The `koanf` struct tags below are the single source of those
// names: KeyPaths, the environment mapping and Redacted are all derived from
// them. Each component receives its own sub-struct by value.
//
// Durations accept Go syntax ("180s", "3m", "1h30m") or a bare integer
// number of seconds ("180", or YAML 180).
package config

import (
	"io"
	"log/slog"
	"path/filepath"
	"time"
)

// Names accepted by the "kind" keys.
const (
	// BackendNative is the built-in presence backend.
	BackendNative = "native"
	// BackendSIP is the SIP/SIMPLE presence backend.
	BackendSIP = "sip"
	// BackendXMPP is the XMPP presence backend.
	BackendXMPP = "xmpp"

	// StoreSQLite is the embedded SQLite store.
	StoreSQLite = "sqlite"

	// StateMemory keeps shared runtime state in process memory (one instance).
	StateMemory = "memory"
)

// DefaultSQLiteFile is the SQLite file name used inside the data directory
// when store.sqlite_path is empty.
const DefaultSQLiteFile = "presenced.db"

// Config is the whole configuration. The zero value is not useful; start
// from Default or Load.
type Config struct {
	// Listen is the client API listener address, host:port. Default ":8080".
	Listen string `koanf:"listen"`
	// AdminListen is the admin API and dashboard listener address,
	// host:port. Default "127.0.0.1:8081".
	AdminListen string `koanf:"admin_listen"`
	// DataDir holds the durable data (the SQLite database by default).
	// Must be non-empty. Default "./presenced-data".
	DataDir string `koanf:"data_dir"`

	// Log configures the process logger.
	Log LogConfig `koanf:"log"`
	// Presence configures client subscriptions and contact watches.
	Presence PresenceConfig `koanf:"presence"`
	// Allowlist seeds the contact domain allowlist on first start; at run
	// time the admin API owns it.
	Allowlist AllowlistConfig `koanf:"allowlist"`
	// Backend selects and sizes the presence backend connector.
	Backend BackendConfig `koanf:"backend"`
	// Directory configures the contact directory (LDAP / Active
	// Directory).
	Directory DirectoryConfig `koanf:"directory"`
	// Dashboard configures the admin dashboard's logins.
	Dashboard DashboardConfig `koanf:"dashboard"`
	// Push configures push hints to the relay.
	Push PushConfig `koanf:"push"`
	// TLS makes both listeners serve HTTPS.
	TLS TLSConfig `koanf:"tls"`
	// Auth configures authentication beside local tokens, and rate limits.
	Auth AuthConfig `koanf:"auth"`
	// HTTP configures the HTTP servers of both listeners.
	HTTP HTTPConfig `koanf:"http"`
	// Stream configures WebSocket and SSE sessions.
	Stream StreamConfig `koanf:"stream"`
	// Store selects the durable store.
	Store StoreConfig `koanf:"store"`
	// State selects where shared runtime state lives.
	State StateConfig `koanf:"state"`
}

// LogConfig configures the process logger.
type LogConfig struct {
	// Level is the minimum level logged: debug, info, warn or error.
	// Default "info".
	Level string `koanf:"level"`
	// Format is the log line format: json or text. Default "json".
	Format string `koanf:"format"`
}

// PresenceConfig configures client subscriptions and contact watches.
type PresenceConfig struct {
	// SubscriptionTTL is the default client subscription expiration time,
	// used when a client asks for none. 10s..86400s. Default 180s. It seeds
	// the run-time setting on first start.
	SubscriptionTTL time.Duration `koanf:"subscription_ttl"`
	// MaxContactsPerRequest bounds the users in one query or subscription
	// request. 1..100000. Default 1000.
	MaxContactsPerRequest int `koanf:"max_contacts_per_request"`
	// MaxSubscriptionsPerUser bounds the live client subscriptions of one
	// user. 1..100000. Default 100.
	MaxSubscriptionsPerUser int `koanf:"max_subscriptions_per_user"`
	// CoalesceInterval delivers at most one change per contact per
	// interval; 0 delivers every change. 0..60s. Default 1s.
	CoalesceInterval time.Duration `koanf:"coalesce_interval"`
	// WatchLinger is how long a contact's backend watch outlives its last
	// client subscription, so that quick re-subscriptions are cheap.
	// 0..1h. Default 10s.
	WatchLinger time.Duration `koanf:"watch_linger"`
}

// AllowlistConfig seeds the contact domain allowlist.
type AllowlistConfig struct {
	// Enabled restricts subscriptions to contacts in Domains. Default false.
	Enabled bool `koanf:"enabled"`
	// Domains are the allowed contact email domains. Each must be a
	// plausible DNS name (letters, digits and hyphens in non-empty labels
	// separated by dots, at most 253 characters). Load stores them
	// lower-cased, de-duplicated and sorted. From the environment or a flag
	// the list is one string separated by commas, semicolons, spaces or new
	// lines. Default empty.
	Domains []string `koanf:"domains"`
}

// BackendConfig selects and sizes the presence backend connector.
type BackendConfig struct {
	// Kind is the connector: native, sip or xmpp. Default "native".
	Kind string `koanf:"kind"`
	// Endpoints are the application endpoint identities the connector
	// signs in as, filled in order. Each must be non-empty and unique;
	// empty means one default endpoint. From the environment or a flag the
	// list is one string separated by commas, semicolons, spaces or new
	// lines. Default empty.
	Endpoints []string `koanf:"endpoints"`
	// MaxSubscriptionsPerEndpoint is the backend subscription capacity of
	// one endpoint. 1..5000. Default 1000.
	MaxSubscriptionsPerEndpoint int `koanf:"max_subscriptions_per_endpoint"`
	// SIP configures the SIP SIMPLE connector (Kind "sip").
	SIP SIPConfig `koanf:"sip"`
	// XMPP configures the XMPP connector (Kind "xmpp").
	XMPP XMPPConfig `koanf:"xmpp"`
}

// Directory kinds.
const (
	// DirectoryNone: no directory; contacts' addresses come from the
	// backends' rules and the directory endpoints answer 501.
	DirectoryNone = ""
	// DirectoryLDAP is an LDAP / Active Directory directory.
	DirectoryLDAP = "ldap"
)

// DirectoryConfig configures the contact directory.
type DirectoryConfig struct {
	// Kind is "" (none) or ldap. Default "".
	Kind string `koanf:"kind"`
	// LDAP configures kind ldap.
	LDAP LDAPConfig `koanf:"ldap"`
}

// DashboardConfig configures the admin dashboard.
type DashboardConfig struct {
	// DirectoryGroup is the DN of the directory group whose members may
	// log in to the dashboard with their directory account (mail,
	// sAMAccountName or userPrincipalName, and password), beside the
	// local accounts. Requires directory.kind ldap. Default "" (local
	// accounts only).
	DirectoryGroup string `koanf:"directory_group"`
}

// LDAPConfig is an LDAP / Active Directory directory.
type LDAPConfig struct {
	// URL is ldap://host:port or ldaps://host:port, or a bare host whose
	// port follows Source (ldap 389/636, gc 3268/3269). Required with
	// kind ldap.
	URL string `koanf:"url"`
	// Source is ldap (a domain controller) or gc (a global catalog: users
	// of every domain of the forest). Default ldap.
	Source string `koanf:"source"`
	// Domain is the search base as a DN (DC=EXAMPLE,DC=COM) or an FQDN
	// (example.com); empty means the server's default naming context.
	Domain string `koanf:"domain"`
	// StartTLS upgrades an ldap:// connection to TLS. Default false.
	StartTLS bool `koanf:"starttls"`
	// TrustStore is a directory (or file) of CA and server certificates,
	// PEM or DER; default the system roots.
	TrustStore string `koanf:"trust_store"`
	// ServerName is the name the server certificate must carry; default
	// the URL's host.
	ServerName string `koanf:"server_name"`
	// BindDN is the service account. Required with kind ldap.
	BindDN string `koanf:"bind_dn"`
	// BindPassword is its password (or PRESENCED_DIRECTORY_LDAP_BIND_PASSWORD);
	// BindPasswordFile holds it instead. Never logged.
	BindPassword     string `koanf:"bind_password"`
	BindPasswordFile string `koanf:"bind_password_file"`
	// Timeout bounds every LDAP call. 100ms..60s. Default 5s.
	Timeout time.Duration `koanf:"timeout"`
	// PoolSize is the most connections held. 1..64. Default 4.
	PoolSize int `koanf:"pool_size"`
	// PositiveTTL and NegativeTTL are how long a found and a not-found
	// lookup are cached. 0..24h. Defaults 10m and 1m.
	PositiveTTL time.Duration `koanf:"positive_ttl"`
	NegativeTTL time.Duration `koanf:"negative_ttl"`
	// MaxResults caps a search's results. 1..1000. Default 100.
	MaxResults int `koanf:"max_results"`
	// Filter selects user entries. Default (objectClass=user).
	Filter string `koanf:"filter"`
	// Attributes map the directory's attribute names.
	Attributes LDAPAttributes `koanf:"attributes"`
}

// LDAPAttributes name the LDAP attributes presenced reads.
type LDAPAttributes struct {
	Mail            string `koanf:"mail"`             // default mail
	ProxyAddresses  string `koanf:"proxy_addresses"`  // default proxyAddresses
	DisplayName     string `koanf:"display_name"`     // default displayName
	GivenName       string `koanf:"given_name"`       // default givenName
	SN              string `koanf:"sn"`               // default sn
	Title           string `koanf:"title"`            // default title
	TelephoneNumber string `koanf:"telephone_number"` // default telephoneNumber
	Mobile          string `koanf:"mobile"`           // default mobile
	SAMAccountName  string `koanf:"sam_account_name"` // default sAMAccountName
	// SIPAddress is the SIP presence address. Default
	// msRTCSIP-PrimaryUserAddress.
	SIPAddress string `koanf:"sip_address"`
	// XMPPAddress is the XMPP presence address (JID). Default "" (the
	// XMPP clusters' xmpp_domain rule).
	XMPPAddress string `koanf:"xmpp_address"`
	// Enabled is FALSE for users not enabled for presence. Default
	// msRTCSIP-UserEnabled.
	Enabled string `koanf:"enabled"`
}

// XMPP connector modes.
const (
	// XMPPComponent: presenced is an XEP-0114 component with XEP-0356
	// privileges and sees users' presence without their credentials.
	XMPPComponent = "component"
	// XMPPAccounts: each endpoint is an XMPP account holding roster
	// subscriptions to the contacts placed on it.
	XMPPAccounts = "accounts"
)

// XMPPConfig configures the XMPP connector. The endpoints are derived from
// the clusters (backend.endpoints must be empty): in component mode one per
// cluster, its component address; in accounts mode every account, in order.
type XMPPConfig struct {
	// Mode is component or accounts. Default component.
	Mode string `koanf:"mode"`
	// Clusters are the XMPP servers, each serving listed email domains.
	// Only a config file can set them. Default none (required with kind
	// xmpp).
	Clusters []XMPPCluster `koanf:"clusters"`
	// KeepAlive is the interval of XEP-0199 pings to each server; an
	// unanswered one drops the connection, which is then re-established.
	// 1s..5m. Default 30s.
	KeepAlive time.Duration `koanf:"keepalive"`
}

// XMPPCluster is one XMPP server (or cluster behind one address).
type XMPPCluster struct {
	// Name labels the cluster in logs, metrics and /readyz. Required,
	// unique.
	Name string `koanf:"name"`
	// Domains are the email domains whose contacts this cluster serves;
	// empty means every domain no other cluster lists (at most one
	// cluster may leave it empty).
	Domains []string `koanf:"domains"`
	// Server is host:port: the component listener (component mode) or
	// the client (c2s) port (accounts mode). Required.
	Server string `koanf:"server"`
	// TLS is starttls, direct or none. Default starttls in accounts mode
	// (where none is refused) and direct in component mode.
	TLS string `koanf:"tls"`
	// TrustStore is a directory (or file) of CA and server certificates,
	// PEM or DER; default the system roots.
	TrustStore string `koanf:"trust_store"`
	// ServerName is the name the server certificate must carry; default
	// the server's host.
	ServerName string `koanf:"server_name"`
	// XMPPDomain is the domain of contacts' JIDs (local part of the email
	// @ XMPPDomain) when no directory resolves them; default the email's
	// own domain.
	XMPPDomain string `koanf:"xmpp_domain"`
	// Component is the component's address (component mode), e.g.
	// presence.example.com.
	Component string `koanf:"component"`
	// ComponentEndpoints is how many endpoints the component counts as
	// in the endpoint pool (component mode): the cluster watches at most
	// ComponentEndpoints × backend.max_subscriptions_per_endpoint
	// contacts. 0 means 10; at most 1000.
	ComponentEndpoints int `koanf:"component_endpoints"`
	// Secret is the component secret; SecretFile holds it instead.
	// Never logged.
	Secret     string `koanf:"secret"`
	SecretFile string `koanf:"secret_file"`
	// NoInitialPresence says the server does not send the presence of
	// users already online when the component connects (ejabberd): such a
	// user is Unknown with reason pending until its next presence or an
	// answered probe, instead of Offline (component mode). Default false.
	NoInitialPresence bool `koanf:"no_initial_presence"`
	// Accounts are the endpoint accounts' bare JIDs (accounts mode),
	// filled in order.
	Accounts []string `koanf:"accounts"`
	// Password is the accounts' password; PasswordFile holds it instead.
	// Never logged.
	Password     string `koanf:"password"`
	PasswordFile string `koanf:"password_file"`
}

// SIPConfig configures the SIP SIMPLE connector. With kind sip the
// endpoints are SIP URIs (sip: or sips:); when none are listed there are
// EndpointCount default ones, sip:presence_<host>@<domain>, then
// sip:presence_<host>-01@<domain> and so on.
type SIPConfig struct {
	// Server is the presence server or Director: host:port, or a bare
	// domain looked up through DNS SRV (_sips._tcp for TLS, _sip._tcp
	// for TCP; without records the domain itself on 5061 or 5060).
	// Required with kind sip. Default "".
	Server string `koanf:"server"`
	// Transport is tls or tcp. Default tls.
	Transport string `koanf:"transport"`
	// Domain is the SIP domain of the default endpoint identities.
	// Required with kind sip when no endpoints are listed. Default "".
	Domain string `koanf:"domain"`
	// EndpointCount is how many default endpoint identities there are
	// when backend.endpoints is empty. 1..100. Default 1.
	EndpointCount int `koanf:"endpoint_count"`
	// Expires is the subscription and publication duration asked of the
	// server. 2s..24h. Default 10m.
	Expires time.Duration `koanf:"expires"`
	// KeepAlive is how often an OPTIONS goes over each connection to find
	// dropped ones (their subscriptions are then refreshed over a new
	// one). 1s..5m. Default 15s.
	KeepAlive time.Duration `koanf:"keepalive"`
	// DNSServer, host:port, receives the SRV and host lookups instead of
	// the system's resolver. Default "".
	DNSServer string `koanf:"dns_server"`
	// TLS holds the client certificate and trust store of TLS
	// connections.
	TLS SIPTLSConfig `koanf:"tls"`
	// Auth holds digest credentials for servers that challenge the
	// endpoints; without a password the connector runs in trusted mode.
	Auth SIPAuthConfig `koanf:"auth"`
}

// SIPTLSConfig is the certificate side of SIP over TLS.
type SIPTLSConfig struct {
	// ClientPKCS12 is a PKCS#12 file (OpenSSL or keytool) holding the
	// client certificate presenced shows the server. Default "" (no
	// client certificate).
	ClientPKCS12 string `koanf:"client_pkcs12"`
	// ClientPKCS12Password unlocks ClientPKCS12. Never logged. Default "".
	ClientPKCS12Password string `koanf:"client_pkcs12_password"`
	// ClientPKCS12PasswordFile holds the password instead (trailing new
	// lines ignored). Default "".
	ClientPKCS12PasswordFile string `koanf:"client_pkcs12_password_file"`
	// ClientFriendlyName picks the certificate in ClientPKCS12 by its
	// friendly name (alias), case-sensitive. Required with ClientPKCS12.
	// Default "".
	ClientFriendlyName string `koanf:"client_friendly_name"`
	// TrustStore is a directory (or one file) of the CA and server
	// certificates to trust, PEM or DER. Default "" (the system's roots).
	TrustStore string `koanf:"trust_store"`
	// ServerName is the name the server certificate must carry. Default
	// the server's host (for SRV, the configured domain, RFC 5922).
	ServerName string `koanf:"server_name"`
}

// SIPAuthConfig holds the endpoints' digest credentials.
type SIPAuthConfig struct {
	// Username is the digest user name of every endpoint. Default "": each
	// endpoint's own user part.
	Username string `koanf:"username"`
	// Password is the endpoints' digest password. Never logged. Default "".
	Password string `koanf:"password"`
	// PasswordFile holds the password instead (trailing new lines
	// ignored). Default "".
	PasswordFile string `koanf:"password_file"`
}

// PushConfig configures push hints to the relay.
type PushConfig struct {
	// WebhookURL is the push relay's absolute URL; "" turns push hints
	// off. It must be https unless its host is loopback (127.0.0.0/8, ::1,
	// localhost). Default "".
	WebhookURL string `koanf:"webhook_url"`
	// Secret is the HMAC-SHA256 key for the X-Presenced-Signature header.
	// Required when WebhookURL is set. Never logged. Default "".
	Secret string `koanf:"secret"`
	// Timeout bounds one delivery attempt. 100ms..60s. Default 5s.
	Timeout time.Duration `koanf:"timeout"`
	// MaxAttempts bounds the delivery attempts of one hint, retried with
	// backoff. 1..100. Default 8.
	MaxAttempts int `koanf:"max_attempts"`
}

// Enabled reports whether push hints are configured.
func (p PushConfig) Enabled() bool { return p.WebhookURL != "" }

// TLSConfig makes both listeners serve HTTPS. Set both files or neither.
type TLSConfig struct {
	// CertFile is the PEM certificate chain. Default "".
	CertFile string `koanf:"cert_file"`
	// KeyFile is the PEM private key for CertFile. Default "".
	KeyFile string `koanf:"key_file"`
}

// Enabled reports whether the listeners serve HTTPS.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// AuthConfig configures authentication beside local tokens, and rate limits.
type AuthConfig struct {
	// OIDC accepts bearer JWTs from an OpenID Connect issuer.
	OIDC OIDCConfig `koanf:"oidc"`
	// RateLimit bounds the request rate of each token.
	RateLimit RateLimitConfig `koanf:"rate_limit"`
}

// OIDCConfig accepts bearer JWTs from an OpenID Connect issuer beside local
// tokens.
type OIDCConfig struct {
	// Issuer is the issuer URL; "" turns OIDC off. It must be an absolute
	// https URL (http only for a loopback host) without query or fragment.
	// Default "".
	Issuer string `koanf:"issuer"`
	// Audience is the required "aud" claim. Required when Issuer is set.
	// Default "".
	Audience string `koanf:"audience"`
	// EmailClaim names the claim holding the user's email. Must be
	// non-empty. Default "email".
	EmailClaim string `koanf:"email_claim"`
}

// Enabled reports whether OIDC tokens are accepted.
func (o OIDCConfig) Enabled() bool { return o.Issuer != "" }

// RateLimitConfig bounds the request rate of each token (a token bucket).
type RateLimitConfig struct {
	// RequestsPerSecond is the sustained rate per token; 0 means
	// unlimited. Must be >= 0. Default 50.
	RequestsPerSecond float64 `koanf:"requests_per_second"`
	// Burst is the bucket size per token. Must be >= 1. Default 100.
	Burst int `koanf:"burst"`
}

// HTTPConfig configures the HTTP servers of both listeners.
type HTTPConfig struct {
	// MaxBodyBytes bounds a request body. 1KiB..64MiB (1024..67108864).
	// Default 1048576 (1MiB).
	MaxBodyBytes int64 `koanf:"max_body_bytes"`
	// ReadHeaderTimeout bounds reading a request's headers. Must be > 0.
	// Default 10s.
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`
	// ShutdownTimeout is the deadline of the graceful shutdown recipe.
	// 1s..10m. Default 15s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
}

// StreamConfig configures WebSocket and SSE sessions.
type StreamConfig struct {
	// QueueSize is the per-connection send queue length; a client that
	// falls further behind is disconnected. 1..65536. Default 256.
	QueueSize int `koanf:"queue_size"`
	// PingInterval is how often an idle stream is pinged. 1s..10m.
	// Default 30s.
	PingInterval time.Duration `koanf:"ping_interval"`
	// WriteDelay holds a WebSocket connection's events for up to this
	// long so that several leave in one write: more events per CPU
	// second under heavy fan-out, at the cost of that much latency.
	// 0..1s. Default 0 (every event written at once).
	WriteDelay time.Duration `koanf:"write_delay"`
}

// StoreConfig selects the durable store.
type StoreConfig struct {
	// Kind is the store implementation; only "sqlite" is available for
	// now. Default "sqlite".
	Kind string `koanf:"kind"`
	// SQLitePath is the SQLite database file; "" means
	// <data_dir>/presenced.db (see Config.SQLitePath). Default "".
	SQLitePath string `koanf:"sqlite_path"`
}

// StateConfig selects where shared runtime state lives.
type StateConfig struct {
	// Kind is the state implementation; only "memory" is available for
	// now. Default "memory".
	Kind string `koanf:"kind"`
}

// Default returns the built-in configuration: the one place defaults are
// set. It is valid (Validate returns nil) and is what `presenced serve`
// runs with no file, environment or flags.
func Default() Config {
	return Config{
		Listen:      ":8080",
		AdminListen: "127.0.0.1:8081",
		DataDir:     "./presenced-data",
		Log:         LogConfig{Level: "info", Format: "json"},
		Presence: PresenceConfig{
			SubscriptionTTL:         180 * time.Second,
			MaxContactsPerRequest:   1000,
			MaxSubscriptionsPerUser: 100,
			CoalesceInterval:        time.Second,
			WatchLinger:             10 * time.Second,
		},
		Allowlist: AllowlistConfig{Enabled: false},
		Backend: BackendConfig{
			Kind:                        BackendNative,
			MaxSubscriptionsPerEndpoint: 1000,
			SIP:                         SIPConfig{Transport: "tls", EndpointCount: 1, Expires: 10 * time.Minute, KeepAlive: 15 * time.Second},
			XMPP:                        XMPPConfig{Mode: XMPPComponent, KeepAlive: 30 * time.Second},
		},
		Directory: DirectoryConfig{LDAP: LDAPConfig{
			Source: "ldap", Timeout: 5 * time.Second, PoolSize: 4,
			PositiveTTL: 10 * time.Minute, NegativeTTL: time.Minute, MaxResults: 100,
			Filter: "(objectClass=user)",
			Attributes: LDAPAttributes{
				Mail: "mail", ProxyAddresses: "proxyAddresses", DisplayName: "displayName",
				GivenName: "givenName", SN: "sn", Title: "title", TelephoneNumber: "telephoneNumber",
				Mobile: "mobile", SAMAccountName: "sAMAccountName",
				SIPAddress: "msRTCSIP-PrimaryUserAddress", Enabled: "msRTCSIP-UserEnabled",
			},
		}},
		Push: PushConfig{
			Timeout:     5 * time.Second,
			MaxAttempts: 8,
		},
		Auth: AuthConfig{
			OIDC:      OIDCConfig{EmailClaim: "email"},
			RateLimit: RateLimitConfig{RequestsPerSecond: 50, Burst: 100},
		},
		HTTP: HTTPConfig{
			MaxBodyBytes:      1 << 20,
			ReadHeaderTimeout: 10 * time.Second,
			ShutdownTimeout:   15 * time.Second,
		},
		Stream: StreamConfig{QueueSize: 256, PingInterval: 30 * time.Second},
		Store:  StoreConfig{Kind: StoreSQLite},
		State:  StateConfig{Kind: StateMemory},
	}
}

// SQLitePath returns the SQLite database file: store.sqlite_path, or
// presenced.db inside data_dir when that is empty.
func (c Config) SQLitePath() string {
	if c.Store.SQLitePath != "" {
		return c.Store.SQLitePath
	}
	return filepath.Join(c.DataDir, DefaultSQLiteFile)
}

// SlogLevel returns Level as a slog.Level; an invalid level (which Validate
// reports) reads as info.
func (l LogConfig) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Handler returns a slog handler writing to w in Format (text, or JSON for
// anything else) at Level.
func (l LogConfig) Handler(w io.Writer) slog.Handler {
	opts := &slog.HandlerOptions{Level: l.SlogLevel()}
	if l.Format == "text" {
		return slog.NewTextHandler(w, opts)
	}
	return slog.NewJSONHandler(w, opts)
}
