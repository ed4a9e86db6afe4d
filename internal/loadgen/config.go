package loadgen

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// Scenario names a load pattern.
type Scenario string

// The scenarios of `presenced bench`.
const (
	// Subscribe makes W watchers subscribe C contacts each from a pool of
	// D, then holds the subscriptions.
	Subscribe Scenario = "subscribe"
	// Fanout publishes presence changes to subscribed, connected watchers
	// and measures publish-to-receipt latency.
	Fanout Scenario = "fanout"
	// Lookup runs batch presence queries.
	Lookup Scenario = "lookup"
	// Churn creates, refreshes, changes and deletes subscriptions at a rate.
	Churn Scenario = "churn"
	// Idle opens N WebSocket streams and holds them, reading the server's
	// memory per connection.
	Idle Scenario = "idle"
	// Notify plays the SIP presence server of a server on backend.kind
	// sip: it holds the SIP dialogs of N watched contacts and sends
	// NOTIFYs in them, measuring how fast the server answers them.
	Notify Scenario = "notify"
	// XMPP plays the component port of an XMPP server for a server on
	// backend.kind xmpp in component mode and sends it users' presence
	// stanzas, measuring how fast the server ingests them.
	XMPP Scenario = "xmpp"
)

// scenarioList names the scenarios in messages.
const scenarioList = "subscribe, fanout, lookup, churn, idle, notify, xmpp"

// Limits on the flags: the tool refuses runs it cannot bound.
const (
	MaxDuration     = time.Hour
	maxWarmup       = 10 * time.Minute
	maxSetupTimeout = time.Hour
	minProgress     = 100 * time.Millisecond
	maxWatchers     = 1_000_000
	maxContacts     = 100_000
	maxDistinct     = 10_000_000
	maxBatch        = 100_000
	maxConcurrency  = 10_000
	maxRate         = 1_000_000
	maxConnections  = 1_000_000
	maxSettle       = 10 * time.Minute
	maxWindow       = 65536
)

// Transports of the fanout scenario.
const (
	TransportWebSocket = "websocket"
	TransportSSE       = "sse"
)

// Config is one bench run, as given on the command line.
type Config struct {
	Scenario Scenario

	Target     *url.URL // client listener base URL
	Admin      *url.URL // admin listener base URL
	AdminToken string   // admin API token (never printed)

	Duration     time.Duration // the measured window
	Progress     time.Duration // progress report period; 0 = none
	Warmup       time.Duration // fanout: publishing before the window
	SetupTimeout time.Duration // bounds minting tokens, subscribing (fanout) and connecting
	JSON         string        // summary JSON file; "-" = stdout; "" = none
	InsecureTLS  bool          // skip certificate verification
	CAFile       string        // extra trusted CA certificates (PEM)
	Keep         bool          // leave the subscriptions in place at the end

	Watchers    int
	Contacts    int // per watcher
	Distinct    int // size of the contact pool
	Batch       int // contacts per request
	Concurrency int // concurrent requests
	Rate        float64
	Transport   string
	Seed        int64

	// Idle: Connections streams of Users users (0 in the flags means
	// Connections/10, at least 1), spread round-robin over the local
	// Sources, read again Settle after the last one opened.
	Connections int
	Users       int
	Sources     []netip.Addr
	Settle      time.Duration

	// Notify: the SIP server listens on SIPListen and keeps at most
	// Window NOTIFYs unanswered; Distinct contacts are watched, Contacts
	// per watcher (Distinct/Watchers, rounded up); Streams connects the
	// watchers' WebSocket streams to count deliveries.
	SIPListen string
	Window    int
	Streams   bool // notify, xmpp

	// XMPP: the component port listens on XMPPListen and accepts the
	// component Component authenticated by Secret (never printed), on
	// behalf of the server XMPPDomain; the presences come from
	// contact-N@JIDDomain (parsed as XMPPDomain when not given), and
	// IngestMetric is the server counter of those it ingested. Distinct,
	// Watchers and Contacts as for Notify.
	XMPPListen   string
	Component    string
	Secret       string
	XMPPDomain   string
	JIDDomain    string
	IngestMetric string

	roots *x509.CertPool // from CAFile
}

// ErrHelp is returned by ParseArgs when help was asked for and printed.
var ErrHelp = flag.ErrHelp

// usageText is the overview printed by `presenced bench --help`.
const usageText = `Usage: presenced bench SCENARIO --target URL --admin URL --admin-token TOKEN [flags]

Scenarios:
  subscribe  W watchers subscribe C contacts each, drawn from D distinct contacts
  fanout     publish K changes/s to W connected watchers; publish-to-receipt latency
  lookup     batch presence queries of N contacts
  churn      create / refresh / PATCH / delete subscriptions at R operations/s
  idle       hold N idle WebSocket streams; server memory per connection
  notify     act as the SIP presence server of a backend.kind sip server; NOTIFYs/s it answers
  xmpp       act as the XMPP component port of a backend.kind xmpp server; presences/s it ingests

Run "presenced bench SCENARIO --help" for the flags of a scenario.
`

// ParseArgs parses `presenced bench` arguments (the scenario first, then
// flags) and validates them. Errors name the offending flag; help goes to
// output and gives ErrHelp.
//
// For the idle scenario it also raises the process's RLIMIT_NOFILE soft
// limit to the hard limit and refuses a run that the descriptor limit or
// the local port range cannot hold.
//
// The flag set lives here rather than in main because the bench command's
// flags are its whole configuration: parsing, defaults and validation are
// tested together.
func ParseArgs(args []string, output io.Writer) (Config, error) {
	return parseArgs(args, output, readHostLimits)
}

// parseArgs is ParseArgs with the host limits of an idle run read by
// limits (tests give fixed ones).
func parseArgs(args []string, output io.Writer, limits func() hostLimits) (Config, error) {
	if len(args) == 0 {
		return Config{}, errors.New("missing SCENARIO: one of " + scenarioList)
	}
	if a := args[0]; a == "-h" || a == "-help" || a == "--help" || a == "help" {
		fmt.Fprint(output, usageText)
		return Config{}, ErrHelp
	}
	cfg := defaults(Scenario(args[0]))
	if cfg.Scenario == "" {
		return Config{}, fmt.Errorf("unknown SCENARIO %q: want one of %s", args[0], scenarioList)
	}
	fs, raw := cfg.flagSet()
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(output, "Usage: presenced bench %s [flags]\n\nFlags:\n", cfg.Scenario)
			fs.SetOutput(output)
			fs.PrintDefaults()
			return Config{}, ErrHelp
		}
		return Config{}, fmt.Errorf("%s: %w (see presenced bench %s --help)", cfg.Scenario, err, cfg.Scenario)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%s: unexpected argument %q (flags follow the scenario)", cfg.Scenario, fs.Arg(0))
	}
	var problems []error
	var err error
	if cfg.Target, err = parseBaseURL(raw.target); err != nil {
		problems = append(problems, fmt.Errorf("--target: %w", err))
	}
	if cfg.Admin, err = parseBaseURL(raw.admin); err != nil {
		problems = append(problems, fmt.Errorf("--admin: %w", err))
	}
	if cfg.Scenario == Notify || cfg.Scenario == XMPP {
		cfg.spreadNotifyContacts()
	}
	if cfg.Scenario == XMPP && cfg.JIDDomain == "" {
		cfg.JIDDomain = cfg.XMPPDomain
	}
	if cfg.Scenario == Idle {
		if cfg.Sources, err = parseSources(raw.sources); err != nil {
			problems = append(problems, fmt.Errorf("--sources: %w", err))
		}
		if cfg.Users == 0 {
			cfg.Users = max(1, cfg.Connections/10)
		}
	}
	problems = append(problems, cfg.validate()...)
	if cfg.Scenario == Idle && len(problems) == 0 {
		problems = append(problems, checkHostLimits(cfg.Connections, len(cfg.Sources), limits())...)
	}
	if len(problems) > 0 {
		return Config{}, errors.Join(problems...)
	}
	return cfg, nil
}

// defaults returns the defaults of scenario s, or a zero Config when s is
// not a scenario.
func defaults(s Scenario) Config {
	c := Config{Scenario: s, Duration: 30 * time.Second, Progress: time.Second, SetupTimeout: 5 * time.Minute, Seed: 1}
	switch s {
	case Subscribe:
		c.Watchers, c.Contacts, c.Distinct, c.Batch, c.Concurrency = 100, 100, 1000, 100, 64
	case Fanout:
		c.Watchers, c.Contacts, c.Distinct, c.Batch, c.Concurrency = 100, 10, 100, 100, 16
		c.Rate, c.Transport, c.Warmup = 100, TransportWebSocket, 5*time.Second
	case Lookup:
		c.Distinct, c.Batch, c.Concurrency = 1000, 100, 8
	case Churn:
		c.Watchers, c.Contacts, c.Distinct, c.Concurrency, c.Rate = 100, 20, 1000, 16, 100
	case Idle:
		c.Connections, c.Concurrency, c.Settle = 1000, 256, 10*time.Second
		c.Seed = 0 // it draws nothing
	case Notify:
		c.Distinct, c.Batch, c.Concurrency, c.Warmup = 1000, 100, 16, 2*time.Second
		c.SIPListen, c.Window, c.Streams = "127.0.0.1:5060", 256, true
	case XMPP:
		c.Distinct, c.Batch, c.Concurrency, c.Warmup, c.Streams = 1000, 100, 16, 2*time.Second, true
		c.XMPPListen, c.Component, c.XMPPDomain = "127.0.0.1:5347", "presence.example.com", "example.com"
		c.IngestMetric = metricXMPPPresences
	default:
		return Config{}
	}
	return c
}

// rawFlags are the flags parsed into c's fields only after validation.
type rawFlags struct {
	target, admin string
	sources       string // idle
}

// flagSet declares the flags of c's scenario, bound to c's fields and to
// the returned raw flags.
func (c *Config) flagSet() (*flag.FlagSet, *rawFlags) {
	fs := flag.NewFlagSet("presenced bench "+string(c.Scenario), flag.ContinueOnError)
	raw := &rawFlags{}
	fs.StringVar(&raw.target, "target", "", "client listener base `URL` (http or https), required")
	fs.StringVar(&raw.admin, "admin", "", "admin listener base `URL` (mints tokens, serves /metrics), required")
	fs.StringVar(&c.AdminToken, "admin-token", "", "admin API `token` (presenced admin token create), required")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "measured run time, at most 1h")
	fs.DurationVar(&c.Progress, "progress", c.Progress, "progress report period on stderr; 0 = none")
	fs.DurationVar(&c.SetupTimeout, "setup-timeout", c.SetupTimeout, "bound on minting tokens and preparing the run, at most 1h")
	fs.StringVar(&c.JSON, "json", "", "also write the summary as JSON to `FILE` (\"-\" = stdout, the text summary then goes to stderr)")
	fs.BoolVar(&c.InsecureTLS, "insecure-tls", false, "do not verify the servers' TLS certificates")
	fs.StringVar(&c.CAFile, "ca-file", "", "PEM `file` of CA certificates to trust for https targets")
	if c.Scenario == Idle {
		fs.IntVar(&c.Connections, "connections", c.Connections, "WebSocket streams to open and hold")
		fs.IntVar(&c.Users, "users", 0, "users owning the streams (watcher-N@bench.test), round-robin; 0 = connections/10, at least 1")
		fs.StringVar(&raw.sources, "sources", "127.0.0.1", "local loopback `addresses` the streams leave from, round-robin: a list (127.0.0.1,127.0.0.2) or range (127.0.0.1-127.0.0.8)")
		fs.DurationVar(&c.Settle, "settle", c.Settle, "wait after the last stream opened before reading the server's memory, at most --duration")
		fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "handshakes in flight")
		return fs, raw
	}
	if c.Scenario == Notify {
		c.notifyFlags(fs)
		return fs, raw
	}
	if c.Scenario == XMPP {
		c.xmppFlags(fs)
		return fs, raw
	}
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of the contact draws")
	if c.Scenario != Lookup {
		fs.IntVar(&c.Watchers, "watchers", c.Watchers, "watchers (users watcher-N@bench.test)")
		fs.IntVar(&c.Contacts, "contacts", c.Contacts, "contacts per watcher")
		fs.BoolVar(&c.Keep, "keep", false, "leave the subscriptions in place at the end")
	}
	fs.IntVar(&c.Distinct, "distinct", c.Distinct, "distinct contacts in the pool (contact-N@bench.test)")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "concurrent requests")
	switch c.Scenario {
	case Subscribe:
		fs.IntVar(&c.Batch, "batch", c.Batch, "contacts per subscribe or PATCH request")
	case Lookup:
		fs.IntVar(&c.Batch, "batch", c.Batch, "contacts per query")
	case Fanout:
		fs.IntVar(&c.Batch, "batch", c.Batch, "contacts per subscribe or PATCH request while preparing")
		fs.Float64Var(&c.Rate, "rate", c.Rate, "presence changes published per second, in total")
		fs.StringVar(&c.Transport, "transport", c.Transport, "stream transport: websocket or sse")
		fs.DurationVar(&c.Warmup, "warmup", c.Warmup, "publishing before the measured window, at most 10m")
	case Churn:
		fs.Float64Var(&c.Rate, "rate", c.Rate, "subscription operations per second")
	}
	return fs, raw
}

// validate lists every problem of c, each naming its flag.
func (c *Config) validate() []error {
	var ps []error
	bad := func(flagName, format string, args ...any) {
		ps = append(ps, fmt.Errorf("--%s: %s", flagName, fmt.Sprintf(format, args...)))
	}
	intIn := func(flagName string, v, lo, hi int) {
		if v < lo || v > hi {
			bad(flagName, "must be %d..%d, got %d", lo, hi, v)
		}
	}
	switch {
	case c.AdminToken == "":
		bad("admin-token", "required (presenced admin token create)")
	case strings.ContainsFunc(c.AdminToken, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		bad("admin-token", "must not contain spaces or control characters")
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		bad("duration", "must be more than 0 and at most %v, got %v", MaxDuration, c.Duration)
	}
	if c.Progress != 0 && c.Progress < minProgress {
		bad("progress", "must be 0 (none) or at least %v, got %v", minProgress, c.Progress)
	}
	if c.SetupTimeout < time.Second || c.SetupTimeout > maxSetupTimeout {
		bad("setup-timeout", "must be 1s..%v, got %v", maxSetupTimeout, c.SetupTimeout)
	}
	if c.Warmup < 0 || c.Warmup > maxWarmup {
		bad("warmup", "must be 0..%v, got %v", maxWarmup, c.Warmup)
	}
	c.validateTLS(bad)
	intIn("concurrency", c.Concurrency, 1, maxConcurrency)
	if c.Scenario == Idle {
		c.validateIdle(bad)
		return ps
	}
	if c.Scenario == Notify {
		c.validateNotify(bad)
		return ps
	}
	if c.Scenario == XMPP {
		c.validateXMPP(bad)
		return ps
	}
	intIn("distinct", c.Distinct, 1, maxDistinct)
	if c.Scenario != Churn {
		intIn("batch", c.Batch, 1, maxBatch)
	}
	if c.Scenario != Lookup {
		intIn("watchers", c.Watchers, 1, maxWatchers)
		intIn("contacts", c.Contacts, 1, maxContacts)
		if c.Contacts > c.Distinct && c.Distinct > 0 {
			bad("contacts", "must be at most --distinct (%d), got %d: a watcher's contacts are distinct", c.Distinct, c.Contacts)
		}
	}
	if c.Scenario == Fanout || c.Scenario == Churn {
		if math.IsNaN(c.Rate) || c.Rate <= 0 || c.Rate > maxRate {
			bad("rate", "must be more than 0 and at most %d, got %v", maxRate, c.Rate)
		}
	}
	if c.Scenario == Fanout && c.Transport != TransportWebSocket && c.Transport != TransportSSE {
		bad("transport", "must be websocket or sse, got %q", c.Transport)
	}
	return ps
}

// validateIdle checks the flags of the idle scenario.
func (c *Config) validateIdle(bad func(flagName, format string, args ...any)) {
	if c.Connections < 1 || c.Connections > maxConnections {
		bad("connections", "must be 1..%d, got %d", maxConnections, c.Connections)
	}
	if c.Users < 1 || c.Users > min(max(c.Connections, 1), maxWatchers) {
		bad("users", "must be 1..%d (at most --connections), got %d", min(max(c.Connections, 1), maxWatchers), c.Users)
	}
	if c.Settle < 0 || c.Settle > maxSettle {
		bad("settle", "must be 0..%v, got %v", maxSettle, c.Settle)
	} else if c.Settle > c.Duration && c.Duration > 0 {
		bad("settle", "must be at most --duration (%v), got %v", c.Duration, c.Settle)
	}
	if c.Target == nil {
		return // reported already
	}
	target, err := loopbackTarget(c.Target)
	if err != nil {
		bad("target", "%v", err)
		return
	}
	if target.IsValid() && len(c.Sources) > 0 {
		for _, s := range c.Sources {
			if s.Is4() != target.Is4() {
				bad("sources", "%s and --target %s are of different IP versions", s, target)
				return
			}
		}
	}
}

// validateTLS checks --ca-file and --insecure-tls and loads the CA file.
func (c *Config) validateTLS(bad func(flagName, format string, args ...any)) {
	if c.Target == nil || c.Admin == nil {
		return // reported already
	}
	https := c.Target.Scheme == "https" || c.Admin.Scheme == "https"
	if c.InsecureTLS && !https {
		bad("insecure-tls", "neither --target nor --admin is https")
	}
	if c.CAFile == "" {
		return
	}
	switch {
	case !https:
		bad("ca-file", "neither --target nor --admin is https")
	case c.InsecureTLS:
		bad("ca-file", "--ca-file and --insecure-tls exclude each other")
	default:
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			bad("ca-file", "%v", err)
			return
		}
		c.roots = x509.NewCertPool()
		if !c.roots.AppendCertsFromPEM(pem) {
			bad("ca-file", "%s holds no PEM certificate", c.CAFile)
		}
	}
}

// parseBaseURL checks that s is an absolute http or https URL with a host
// and nothing but an optional path prefix, and returns it without a
// trailing slash.
func parseBaseURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("must be an http or https URL, got %q", s)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("has no host: %q", s)
	case u.User != nil:
		return nil, errors.New("must not hold a user name or password")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("must not hold a query or fragment: %q", s)
	case u.Opaque != "":
		return nil, fmt.Errorf("not a base URL: %q", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Params are the run's parameters as the summary shows them.
func (c Config) params() Params {
	p := Params{
		Target: c.Target.String(), Duration: c.Duration.String(),
		Watchers: c.Watchers, Contacts: c.Contacts, Distinct: c.Distinct,
		Batch: c.Batch, Concurrency: c.Concurrency, Rate: c.Rate, Transport: c.Transport, Seed: c.Seed,
	}
	if c.Scenario == Fanout || c.Scenario == Notify || c.Scenario == XMPP {
		p.Warmup = c.Warmup.String()
	}
	if c.Scenario == Notify {
		p.Window, p.SIPListen, p.Streams = c.Window, c.SIPListen, c.Streams
	}
	if c.Scenario == XMPP {
		p.XMPPListen, p.Component, p.XMPPDomain, p.JIDDomain, p.Streams = c.XMPPListen, c.Component, c.XMPPDomain, c.JIDDomain, c.Streams
		p.IngestMetric = c.IngestMetric
	}
	if c.Scenario == Idle {
		p.Connections, p.Users, p.Settle = c.Connections, c.Users, c.Settle.String()
		for _, s := range c.Sources {
			p.Sources = append(p.Sources, s.String())
		}
	}
	return p
}
