package locate_test

import (
	"context"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/dnstest"
	"github.com/presenced/presenced/internal/sip/locate"
)

func TestResolve(t *testing.T) {
	dns := dnstest.Start(t)
	dns.AddSRV("_sips._tcp.both.test", 10, 0, 5061, "pool1.both.test")
	dns.AddSRV("_sips._tcp.both.test", 20, 0, 5071, "pool2.both.test")
	dns.AddSRV("_sip._tcp.both.test", 10, 0, 5060, "pool1.both.test")
	dns.AddSRV("_sip._tcp.tcponly.test", 10, 0, 5080, "sip.tcponly.test")
	dns.AddSRV("_sips._tcp.dot.test", 0, 0, 0, ".")
	dns.AddSRV("_sip._tcp.dot.test", 10, 0, 5060, "sip.dot.test")
	r := locate.NewResolver(dns.Addr())

	tests := []struct {
		domain, transport string
		want              []locate.Target
	}{
		{"both.test", "", []locate.Target{
			{Addr: "pool1.both.test:5061", Transport: locate.TLS},
			{Addr: "pool2.both.test:5071", Transport: locate.TLS},
			{Addr: "pool1.both.test:5060", Transport: locate.TCP},
		}},
		{"both.test", locate.TLS, []locate.Target{
			{Addr: "pool1.both.test:5061", Transport: locate.TLS},
			{Addr: "pool2.both.test:5071", Transport: locate.TLS},
		}},
		{"both.test", locate.TCP, []locate.Target{{Addr: "pool1.both.test:5060", Transport: locate.TCP}}},
		{"tcponly.test", "", []locate.Target{{Addr: "sip.tcponly.test:5080", Transport: locate.TCP}}},
		{"tcponly.test", locate.TLS, []locate.Target{{Addr: "tcponly.test:5061", Transport: locate.TLS}}},
		{"dot.test", "", []locate.Target{{Addr: "sip.dot.test:5060", Transport: locate.TCP}}},
		{"none.test", "", []locate.Target{{Addr: "none.test:5061", Transport: locate.TLS}}},
		{"none.test", locate.TCP, []locate.Target{{Addr: "none.test:5060", Transport: locate.TCP}}},
	}
	for _, tt := range tests {
		t.Run(tt.domain+"/"+tt.transport, func(t *testing.T) {
			got, err := locate.Resolve(context.Background(), r, tt.domain, tt.transport)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveDNSDown(t *testing.T) {
	// A port nobody answers on: the lookup fails, which is an error, not
	// a fallback to the domain.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	if got, err := locate.Resolve(ctx, locate.NewResolver(addr), "example.test", ""); err == nil {
		t.Fatalf("Resolve with the DNS server down = %v, want an error", got)
	}
}

func TestNewFailover(t *testing.T) {
	dns := dnstest.Start(t)
	dns.AddSRV("_sips._tcp.ha.test", 10, 0, 5061, "a.ha.test")
	dns.AddSRV("_sips._tcp.ha.test", 20, 0, 5061, "b.ha.test")
	s, err := locate.New("ha.test", "tls", locate.NewResolver(dns.Addr()), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var got []string
	for range 4 {
		tg, err := s.Server(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tg.String())
		s.Failed(tg)
	}
	// a, then b after a failed, then (all failed: resolved again) a, b.
	want := []string{"tls:a.ha.test:5061", "tls:b.ha.test:5061", "tls:a.ha.test:5061", "tls:b.ha.test:5061"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets over failures (-want +got):\n%s", diff)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		server, transport string
		want              locate.Target
		wantErr           bool
	}{
		{server: "10.0.0.1:5061", want: locate.Target{Addr: "10.0.0.1:5061", Transport: locate.TLS}},
		{server: "sip.example.com:5060", transport: "tcp", want: locate.Target{Addr: "sip.example.com:5060", Transport: locate.TCP}},
		{server: "[::1]:5061", transport: "TLS", want: locate.Target{Addr: "[::1]:5061", Transport: locate.TLS}},
		{server: "sip.example.com:5060", transport: "udp", wantErr: true},
		{server: ":5060", wantErr: true},
		{server: "", wantErr: true},
		{server: "sip:bob@example.com", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.server+"/"+tt.transport, func(t *testing.T) {
			s, err := locate.New(tt.server, tt.transport, nil, 0)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("New(%q, %q) = %v, want an error", tt.server, tt.transport, s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Server(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Server (-want +got):\n%s", diff)
			}
		})
	}
}
