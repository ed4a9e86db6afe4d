package ldap

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/presenced/presenced/internal/directory/slapdtest"
)

// breakingProxy forwards TCP connections to a server. Break makes the
// connections open so far fail on the client's next request, as a
// half-open connection to a restarted server does: the client learns of it
// only by trying.
type breakingProxy struct {
	ln       net.Listener
	upstream string
	wg       sync.WaitGroup

	// mu guards pairs.
	mu    sync.Mutex
	pairs []*atomic.Bool // broken flag of each connection so far
}

func startProxy(t *testing.T, upstream string) *breakingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &breakingProxy{ln: ln, upstream: upstream}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *breakingProxy) addr() string { return p.ln.Addr().String() }

// Break marks every connection so far broken.
func (p *breakingProxy) Break() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.pairs {
		b.Store(true)
	}
}

func (p *breakingProxy) accept() {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.upstream)
		if err != nil {
			client.Close()
			continue
		}
		conns = append(conns, client, server)
		broken := new(atomic.Bool)
		p.mu.Lock()
		p.pairs = append(p.pairs, broken)
		p.mu.Unlock()
		closeBoth := func() { client.Close(); server.Close() }
		p.wg.Go(func() {
			defer closeBoth()
			io.Copy(client, server)
		})
		p.wg.Go(func() {
			defer closeBoth()
			buf := make([]byte, 32<<10)
			for {
				n, err := client.Read(buf)
				if err != nil || broken.Load() {
					return // a broken connection drops the request and closes
				}
				if _, err := server.Write(buf[:n]); err != nil {
					return
				}
			}
		})
	}
}

// TestRedialAfterFailure checks that a request on a connection that
// fails mid-request is retried once on a new connection.
func TestRedialAfterFailure(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{Users: []slapdtest.User{alice}})
	proxy := startProxy(t, srv.Addr())
	d := newDirectory(t, srv, func(c *Config) { c.URLs = []string{proxy.addr()}; c.PoolSize = 1 })
	ctx := context.Background()
	if _, err := d.Lookup(ctx, alice.Mail); err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	proxy.Break()
	got, err := d.Lookup(ctx, alice.Mail)
	if err != nil {
		t.Fatalf("Lookup on a broken connection: %v", err)
	}
	if diff := cmp.Diff(entry(alice), got); diff != "" {
		t.Errorf("Lookup (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(d.m.redials); got != 1 {
		t.Errorf("redials_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(d.m.connections); got != 1 {
		t.Errorf("pool_connections = %v, want 1", got)
	}
}
