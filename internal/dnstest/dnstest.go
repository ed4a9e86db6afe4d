// Package dnstest runs a small authoritative DNS server on a loopback UDP
// port for tests: SRV and A records added by the test, NXDOMAIN for every
// other name. Point a resolver at Server.Addr (locate.NewResolver does).
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server is a running test DNS server. Its methods are safe for
// concurrent use.
type Server struct {
	addr string
	srv  *dns.Server

	mu      sync.Mutex
	records map[string][]dns.RR // by lower-case FQDN
	queries int
}

// Start serves DNS on 127.0.0.1 (a free UDP port) until tb's test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("dnstest: listen: %v", err)
	}
	s := &Server{addr: pc.LocalAddr().String(), records: map[string][]dns.RR{}}
	started := make(chan struct{})
	s.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = s.srv.ActivateAndServe() }()
	<-started
	tb.Cleanup(func() { _ = s.srv.Shutdown() })
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Queries is how many queries were answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// AddSRV adds an SRV record, e.g. AddSRV("_sips._tcp.example.com", 10, 5,
// 5061, "sip1.example.com").
func (s *Server) AddSRV(name string, priority, weight, port uint16, target string) {
	s.add(&dns.SRV{Hdr: s.hdr(name, dns.TypeSRV), Priority: priority, Weight: weight, Port: port, Target: dns.Fqdn(target)})
}

// AddA adds an A record.
func (s *Server) AddA(name string, ip net.IP) {
	s.add(&dns.A{Hdr: s.hdr(name, dns.TypeA), A: ip.To4()})
}

func (s *Server) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: dns.Fqdn(strings.ToLower(name)), Rrtype: t, Class: dns.ClassINET, Ttl: 60}
}

func (s *Server) add(rr dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[rr.Header().Name] = append(s.records[rr.Header().Name], rr)
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	s.mu.Lock()
	s.queries++
	for _, q := range req.Question {
		rrs, known := s.records[strings.ToLower(q.Name)]
		if !known {
			m.Rcode = dns.RcodeNameError
			continue
		}
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, dns.Copy(rr))
			}
		}
	}
	s.mu.Unlock()
	_ = w.WriteMsg(m)
}
