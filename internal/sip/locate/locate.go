// Package locate finds the SIP server to send requests to (RFC 3263 in
// the part presenced needs): a configured host:port is used as it is; a
// server given only as a domain is looked up through DNS SRV, _sips._tcp
// for TLS and _sip._tcp for TCP, and the targets are tried in the order
// the records give (priority, then weight), moving to the next one after a
// transport failure.
package locate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The transports, as sipgo names them.
const (
	TCP = "TCP"
	TLS = "TLS"
)

// Default ports (RFC 3261 §19.1.2) for a domain without SRV records.
const (
	DefaultTCPPort = 5060
	DefaultTLSPort = 5061
)

// Target is one place requests go: a host:port and a transport.
type Target struct {
	Addr      string // host:port
	Transport string // TCP or TLS
}

func (t Target) String() string { return strings.ToLower(t.Transport) + ":" + t.Addr }

// Servers gives the target for new requests. Implementations are safe for
// concurrent use.
type Servers interface {
	// Server returns the target to use now.
	Server(ctx context.Context) (Target, error)
	// Failed reports a transport failure towards t, so that the next
	// Server call may move on to another target.
	Failed(t Target)
}

// Static is a fixed target.
type Static Target

// Server returns the target.
func (s Static) Server(context.Context) (Target, error) { return Target(s), nil }

// Failed does nothing: there is no other target.
func (Static) Failed(Target) {}

// Resolver is the part of *net.Resolver locate uses.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// ParseTransport returns TCP or TLS for a configured transport name ("tcp",
// "tls", any case), or "" for an empty one (choose by SRV).
func ParseTransport(s string) (string, error) {
	switch strings.ToUpper(s) {
	case "":
		return "", nil
	case TCP:
		return TCP, nil
	case TLS:
		return TLS, nil
	}
	return "", fmt.Errorf("locate: transport %q: want tcp or tls", s)
}

// New returns the Servers for a configured server: "host:port" is a
// static target (transport TLS when transport is empty); a bare "host" is
// resolved through SRV by r (nil: net.DefaultResolver), re-resolved every
// ttl (default 5 min) and after every target has failed.
func New(server, transport string, r Resolver, ttl time.Duration) (Servers, error) {
	tr, err := ParseTransport(transport)
	if err != nil {
		return nil, err
	}
	if host, port, err := net.SplitHostPort(server); err == nil {
		if n, err := strconv.ParseUint(port, 10, 16); host == "" || err != nil || n == 0 || strings.ContainsAny(host, "/@ ") {
			return nil, fmt.Errorf("locate: server %q: want host:port or a domain", server)
		}
		if tr == "" {
			tr = TLS
		}
		return Static{Addr: server, Transport: tr}, nil
	}
	if server == "" || strings.ContainsAny(server, "/:@ ") {
		return nil, fmt.Errorf("locate: server %q: want host:port or a domain", server)
	}
	if r == nil {
		r = net.DefaultResolver
	}
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	return &srv{domain: server, transport: tr, r: r, ttl: ttl, now: time.Now}, nil
}

// srv resolves a domain through SRV records.
type srv struct {
	domain    string
	transport string // "" = try TLS first, then TCP
	r         Resolver
	ttl       time.Duration
	now       func() time.Time

	mu       sync.Mutex
	targets  []Target
	next     int // index of the current target
	resolved time.Time
}

func (s *srv) Server(ctx context.Context) (Target, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.targets) == 0 || s.next >= len(s.targets) || s.now().Sub(s.resolved) > s.ttl {
		targets, err := Resolve(ctx, s.r, s.domain, s.transport)
		if err != nil {
			if len(s.targets) > 0 { // keep what worked before
				s.next = 0
				return s.targets[0], nil
			}
			return Target{}, err
		}
		s.targets, s.next, s.resolved = targets, 0, s.now()
	}
	return s.targets[s.next], nil
}

func (s *srv) Failed(t Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next < len(s.targets) && s.targets[s.next] == t {
		s.next++
	}
}

// Resolve returns the targets of domain in the order to try them:
// _sips._tcp records (TLS) unless transport is TCP, then _sip._tcp
// records (TCP) unless transport is TLS. Without any record it falls back
// to the domain itself on the default port of the transport (TLS when
// transport is empty), as RFC 3263 §4.2 does without NAPTR and SRV.
func Resolve(ctx context.Context, r Resolver, domain, transport string) ([]Target, error) {
	var targets []Target
	var errs []error
	try := func(service, tr string) {
		_, recs, err := r.LookupSRV(ctx, service, "tcp", domain)
		if err != nil {
			var dnsErr *net.DNSError
			if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
				errs = append(errs, fmt.Errorf("_%s._tcp.%s: %w", service, domain, err))
			}
			return
		}
		for _, rec := range recs {
			if rec.Target == "." || rec.Target == "" { // "service not available" (RFC 2782)
				continue
			}
			host := strings.TrimSuffix(rec.Target, ".")
			targets = append(targets, Target{Addr: net.JoinHostPort(host, strconv.Itoa(int(rec.Port))), Transport: tr})
		}
	}
	if transport != TCP {
		try("sips", TLS)
	}
	if transport != TLS {
		try("sip", TCP)
	}
	if len(targets) > 0 {
		return targets, nil
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("locate: %s: %w", domain, errors.Join(errs...))
	}
	switch transport {
	case TCP:
		return []Target{{Addr: net.JoinHostPort(domain, strconv.Itoa(DefaultTCPPort)), Transport: TCP}}, nil
	default:
		return []Target{{Addr: net.JoinHostPort(domain, strconv.Itoa(DefaultTLSPort)), Transport: TLS}}, nil
	}
}

// NewResolver returns a resolver that sends every DNS query to server
// (host:port), or the system's resolver for an empty server.
func NewResolver(server string) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		},
	}
}
