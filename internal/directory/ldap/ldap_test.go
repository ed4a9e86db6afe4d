package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/directory"
	"github.com/presenced/presenced/internal/directory/cache"
	"github.com/presenced/presenced/internal/directory/slapdtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ptr(v bool) *bool { return &v }

// The test forest's users. frank precedes erin so that the server returns
// him first for shared@example.com, which is only erin's mail.
var (
	alice = slapdtest.User{
		SAMAccountName: "alice", Mail: "alice@example.com",
		ProxyAddresses: []string{"SMTP:alice@example.com", "smtp:a.liddell@example.com", "SIP:alice.sip@example.com"},
		GivenName:      "Alice", SN: "Liddell", DisplayName: "Alice Liddell", Title: "Head of Presence",
		TelephoneNumber: "+1 555 0100", Mobile: "+1 555 0199",
		SIPAddress: "sip:alice@example.com", SIPEnabled: ptr(true), XMPPAddress: "alice@xmpp.example.com",
	}
	bob   = slapdtest.User{SAMAccountName: "bob", Mail: "bob@example.com", SIPAddress: "sip:bob@example.com", SIPEnabled: ptr(false)}
	carol = slapdtest.User{SAMAccountName: "carol", Mail: "carol@example.com", DisplayName: "Carol (Contractor)"}
	grace = slapdtest.User{SAMAccountName: "grace", Mail: "grace@example.com", ProxyAddresses: []string{"SMTP:grace.hopper@example.com"}}
	frank = slapdtest.User{SAMAccountName: "frank", Mail: "frank@example.com", ProxyAddresses: []string{"smtp:shared@example.com"}}
	erin  = slapdtest.User{SAMAccountName: "erin", Mail: "shared@example.com"}
	dave  = slapdtest.User{Domain: slapdtest.ChildDomain, SAMAccountName: "dave", Mail: "dave@emea.example.com",
		DisplayName: "Dave Child", SIPAddress: "sip:dave@emea.example.com", SIPEnabled: ptr(true)}
)

// bulkUsers is past AD's size limit, loaded in reverse so that the first
// cards by mail come last from the server.
const bulkUsers = 1100

func forest() []slapdtest.User {
	users := []slapdtest.User{alice, bob, carol, grace, frank, erin, dave}
	for i := bulkUsers - 1; i >= 0; i-- {
		name := fmt.Sprintf("bulk%04d", i)
		users = append(users, slapdtest.User{SAMAccountName: name, Mail: name + "@example.com", DisplayName: "Bulk " + name})
	}
	return users
}

// entry is what Lookup returns for u with the default attributes.
func entry(u slapdtest.User) directory.Entry {
	return directory.Entry{Card: card(u), Address: u.SIPAddress, Enabled: u.SIPEnabled == nil || *u.SIPEnabled}
}

func card(u slapdtest.User) directory.Card {
	return directory.Card{Mail: u.Mail, DisplayName: u.DisplayName, GivenName: u.GivenName, SN: u.SN,
		Title: u.Title, TelephoneNumber: u.TelephoneNumber, Mobile: u.Mobile, SAMAccountName: u.SAMAccountName}
}

// newDirectory returns a Directory on srv's plain port for the root
// domain, changed by edit, closed when t ends.
func newDirectory(t *testing.T, srv *slapdtest.Server, edit func(*Config)) *Directory {
	t.Helper()
	cfg := Config{
		URLs: []string{srv.URL()}, Source: srv.Source(), Domain: slapdtest.RootDomain,
		BindDN: srv.BindDN(), BindPassword: srv.BindPassword(), Timeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// lookupCase is one Lookup and its expected outcome.
type lookupCase struct {
	name, email string
	want        directory.Entry
	err         error
}

func checkLookups(t *testing.T, d *Directory, tests []lookupCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Lookup(context.Background(), tt.email)
			if !errors.Is(err, tt.err) || (err != nil) != (tt.err != nil) {
				t.Fatalf("Lookup(%q) error = %v, want %v", tt.email, err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lookup(%q) (-want +got):\n%s", tt.email, diff)
			}
		})
	}
}

// TestDomainController runs against one slapd in the domain-controller
// view; the subtests that restart or stop it come last.
func TestDomainController(t *testing.T) {
	start := time.Now()
	srv := slapdtest.Start(t, slapdtest.Options{Source: slapdtest.SourceLDAP, Users: forest()})
	t.Logf("slapd with %d users ready in %v", len(forest()), time.Since(start))

	t.Run("Lookup", func(t *testing.T) {
		d := newDirectory(t, srv, nil)
		checkLookups(t, d, []lookupCase{
			{"mail", "alice@example.com", entry(alice), nil},
			{"mail any case", "ALICE@Example.COM", entry(alice), nil},
			{"smtp proxy address", "a.liddell@example.com", entry(alice), nil},
			{"SMTP primary proxy address", "grace.hopper@example.com", entry(grace), nil},
			{"SIP proxy address is no email", "alice.sip@example.com", directory.Entry{}, directory.ErrNotFound},
			{"not enabled", "bob@example.com", entry(bob), nil},
			{"enabled unset, no address", "carol@example.com", entry(carol), nil},
			{"mail wins over proxy address", "shared@example.com", entry(erin), nil},
			{"not found", "nobody@example.com", directory.Entry{}, directory.ErrNotFound},
			{"substring is not found", "lice@example.com", directory.Entry{}, directory.ErrNotFound},
			{"wildcard is plain text", "*@example.com", directory.Entry{}, directory.ErrNotFound},
			{"child domain not in root", "dave@emea.example.com", directory.Entry{}, directory.ErrNotFound},
			{"no at", "alice", directory.Entry{}, directory.ErrInvalid},
			{"space", "alice smith@example.com", directory.Entry{}, directory.ErrInvalid},
			{"empty", "", directory.Entry{}, directory.ErrInvalid},
			{"filter injection", "a)(mail=*)@example.com", directory.Entry{}, directory.ErrInvalid},
		})
	})

	t.Run("XMPPAddressAttribute", func(t *testing.T) {
		d := newDirectory(t, srv, func(c *Config) { c.Attributes.Address = slapdtest.XMPPAttribute })
		want := entry(alice)
		want.Address = alice.XMPPAddress
		checkLookups(t, d, []lookupCase{
			{"xmpp", "alice@example.com", want, nil},
			{"none", "bob@example.com", directory.Entry{Card: card(bob), Enabled: false}, nil},
		})
	})

	t.Run("Domain", func(t *testing.T) {
		for _, tt := range []struct {
			domain     string
			root, emea error // Lookup errors of alice and dave
		}{
			{"DC=EXAMPLE,DC=COM", nil, directory.ErrNotFound},
			{"example.com", nil, directory.ErrNotFound},
			{"", nil, directory.ErrNotFound}, // rootDSE defaultNamingContext: the root
			{"emea.example.com", directory.ErrNotFound, nil},
			{"DC=emea,DC=example,DC=com", directory.ErrNotFound, nil},
		} {
			t.Run(tt.domain, func(t *testing.T) {
				d := newDirectory(t, srv, func(c *Config) { c.Domain = tt.domain })
				for _, c := range []struct {
					u    slapdtest.User
					want error
				}{{alice, tt.root}, {dave, tt.emea}} {
					if _, err := d.Lookup(context.Background(), c.u.Mail); !errors.Is(err, c.want) || (err != nil) != (c.want != nil) {
						t.Errorf("Lookup(%s) error = %v, want %v", c.u.Mail, err, c.want)
					}
				}
			})
		}
	})

	t.Run("Search", func(t *testing.T) {
		d := newDirectory(t, srv, nil)
		tests := []struct {
			name, text string
			limit      int
			want       []directory.Card
			err        error
		}{
			{"given name prefix", "ali", 10, []directory.Card{card(alice)}, nil},
			{"display name substring", "liddel", 10, []directory.Card{card(alice)}, nil},
			{"parenthesis is text", "(Contractor", 10, []directory.Card{card(carol)}, nil},
			{"lone parenthesis", "(", 10, []directory.Card{card(carol)}, nil},
			{"closing parenthesis", ")", 10, []directory.Card{card(carol)}, nil},
			{"injection", "*)(mail=*", 10, nil, nil},
			{"star", "*", 10, nil, nil},
			{"backslash", `\`, 10, nil, nil},
			{"escape sequence is text", `\2a`, 10, nil, nil},
			{"NUL", "\x00", 10, nil, nil},
			{"NUL inside", "ali\x00ce", 10, nil, nil},
			{"newline", "ali\nce", 10, nil, nil},
			{"non-ASCII", "Lidd\u00e9ll", 10, nil, nil},
			{"child domain not in root", "dave", 10, nil, nil},
			{"sorted by mail", "shared", 10, []directory.Card{card(erin)}, nil},
			{"limit", "bulk", 3, []directory.Card{card(bulk(0)), card(bulk(1)), card(bulk(2))}, nil},
			{"empty", "  ", 10, nil, directory.ErrInvalid},
			{"limit zero", "alice", 0, nil, directory.ErrInvalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := d.Search(context.Background(), tt.text, tt.limit)
				if !errors.Is(err, tt.err) || (err != nil) != (tt.err != nil) {
					t.Fatalf("Search(%q) error = %v, want %v", tt.text, err, tt.err)
				}
				if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("Search(%q, %d) (-want +got):\n%s", tt.text, tt.limit, diff)
				}
			})
		}
	})

	t.Run("SearchPastSizeLimit", func(t *testing.T) {
		// Every bulk user matches; the first by mail are the last the
		// server sends, past its size limit: only paging reaches them.
		if bulkUsers <= srv.SizeLimit() {
			t.Fatalf("%d bulk users do not exceed the size limit %d", bulkUsers, srv.SizeLimit())
		}
		d := newDirectory(t, srv, func(c *Config) { c.MaxSearch = 5 })
		start := time.Now()
		got, err := d.Search(context.Background(), "bulk", 50)
		if err != nil {
			t.Fatalf("Search: %v", err)
		}
		t.Logf("search over %d entries (%d pages of %d) took %v", bulkUsers, (bulkUsers+pageSize-1)/pageSize, pageSize, time.Since(start))
		var want []directory.Card
		for i := range 5 {
			want = append(want, card(bulk(i)))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Search(bulk) (-want +got):\n%s", diff)
		}
	})

	t.Run("SearchMaxScan", func(t *testing.T) {
		// slapd sends entries in the order they were added (bulk1099
		// first); after two pages of 100 the scan stops, so the first by
		// mail among those read is bulk0900.
		d := newDirectory(t, srv, func(c *Config) { c.MaxScan, c.MaxSearch = 150, 2 })
		got, err := d.Search(context.Background(), "bulk", 10)
		if err != nil {
			t.Fatalf("Search: %v", err)
		}
		if diff := cmp.Diff([]directory.Card{card(bulk(900)), card(bulk(901))}, got); diff != "" {
			t.Errorf("Search(bulk) (-want +got):\n%s", diff)
		}
		// The abandoned paged search leaves the connection usable.
		if _, err := d.Lookup(context.Background(), alice.Mail); err != nil {
			t.Errorf("Lookup after an abandoned search: %v", err)
		}
	})

	t.Run("TLS", func(t *testing.T) {
		pool := &tls.Config{RootCAs: srv.CAPool(), MinVersion: tls.VersionTLS12}
		for _, tt := range []struct {
			name     string
			url      string
			startTLS bool
			tls      *tls.Config
			ok       bool
		}{
			{"StartTLS", srv.URL(), true, pool, true},
			{"LDAPS", srv.LDAPSURL(), false, pool, true},
			{"StartTLS untrusted", srv.URL(), true, nil, false},
			{"LDAPS untrusted", srv.LDAPSURL(), false, nil, false},
			{"LDAPS wrong name", srv.LDAPSURL(), false, &tls.Config{RootCAs: srv.CAPool(), ServerName: "other.example.com"}, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				d := newDirectory(t, srv, func(c *Config) { c.URLs, c.StartTLS, c.TLS = []string{tt.url}, tt.startTLS, tt.tls })
				got, err := d.Lookup(context.Background(), alice.Mail)
				if !tt.ok {
					if !errors.Is(err, directory.ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
						t.Fatalf("Lookup error = %v, want ErrUnavailable for the certificate", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Lookup: %v", err)
				}
				if diff := cmp.Diff(entry(alice), got); diff != "" {
					t.Errorf("Lookup (-want +got):\n%s", diff)
				}
				c, _, err := d.pool.get(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				defer d.pool.put(c, false)
				if _, isTLS := c.TLSConnectionState(); !isTLS {
					t.Error("pooled connection is not TLS")
				}
			})
		}
	})

	t.Run("WrongPassword", func(t *testing.T) {
		const wrong = "not-the-password-4711"
		d := newDirectory(t, srv, func(c *Config) { c.BindPassword = wrong })
		_, err := d.Lookup(context.Background(), alice.Mail)
		checkUnavailable(t, "Lookup", err, srv.URL(), "Invalid Credentials", wrong)
		checkUnavailable(t, "Healthy", d.Healthy(context.Background()), srv.URL(), "Invalid Credentials", wrong)
		if got := testutil.ToFloat64(d.m.connections); got != 0 {
			t.Errorf("open connections = %v after failed binds, want 0", got)
		}
	})

	t.Run("Healthy", func(t *testing.T) {
		d := newDirectory(t, srv, nil)
		if err := d.Healthy(context.Background()); err != nil {
			t.Fatalf("Healthy: %v", err)
		}
	})

	t.Run("PoolConcurrency", func(t *testing.T) {
		const poolSize, workers, calls = 2, 16, 20
		d := newDirectory(t, srv, func(c *Config) { c.PoolSize = poolSize })
		var wg sync.WaitGroup
		errs := make(chan error, workers*calls)
		for range workers {
			wg.Go(func() {
				for range calls {
					if _, err := d.Lookup(context.Background(), alice.Mail); err != nil {
						errs <- err
					}
					if n := testutil.ToFloat64(d.m.connections); n > poolSize {
						errs <- fmt.Errorf("%v connections open, pool size %d", n, poolSize)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := testutil.ToFloat64(d.m.requests.WithLabelValues(opLookup, resultOK)); got != workers*calls {
			t.Errorf("requests_total{lookup,ok} = %v, want %d", got, workers*calls)
		}
	})

	t.Run("Metrics", func(t *testing.T) {
		d := newDirectory(t, srv, nil)
		ctx := context.Background()
		d.Lookup(ctx, alice.Mail)
		d.Lookup(ctx, "nobody@example.com")
		d.Lookup(ctx, "invalid")
		d.Search(ctx, "ali", 5)
		d.Healthy(ctx)
		for _, c := range []struct {
			op, result string
			want       float64
		}{
			{opLookup, resultOK, 1}, {opLookup, resultNotFound, 1}, {opLookup, resultInvalid, 1},
			{opSearch, resultOK, 1}, {opHealth, resultOK, 1}, {opLookup, resultUnavailable, 0},
		} {
			if got := testutil.ToFloat64(d.m.requests.WithLabelValues(c.op, c.result)); got != c.want {
				t.Errorf("requests_total{%s,%s} = %v, want %v", c.op, c.result, got, c.want)
			}
		}
		if got := testutil.CollectAndCount(d.m.seconds); got != 3 {
			t.Errorf("request_seconds has %d series, want 3", got)
		}
		if got := testutil.ToFloat64(d.m.connections); got != 1 {
			t.Errorf("pool_connections = %v after sequential calls, want 1", got)
		}
	})

	t.Run("BurstThroughCacheIsOneQuery", func(t *testing.T) {
		// The directory as the app builds it: behind the cache, a burst
		// of lookups of one email makes one LDAP query.
		d := newDirectory(t, srv, nil)
		c := cache.New(d, cache.Config{})
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Go(func() {
				if _, err := c.Lookup(context.Background(), alice.Mail); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("Lookup through the cache: %v", err)
		}
		if got := testutil.ToFloat64(d.m.requests.WithLabelValues(opLookup, resultOK)); got != 1 {
			t.Errorf("50 concurrent lookups of one email made %v LDAP queries, want 1", got)
		}
	})

	// Destructive: the server restarts and stops from here on.
	t.Run("Restart", func(t *testing.T) {
		d := newDirectory(t, srv, func(c *Config) { c.PoolSize = 2 })
		if _, err := d.Lookup(context.Background(), alice.Mail); err != nil {
			t.Fatalf("Lookup before restart: %v", err)
		}
		srv.Restart(t)
		got, err := d.Lookup(context.Background(), alice.Mail)
		if err != nil {
			t.Fatalf("Lookup after restart: %v", err)
		}
		if diff := cmp.Diff(entry(alice), got); diff != "" {
			t.Errorf("Lookup after restart (-want +got):\n%s", diff)
		}
		if got := testutil.ToFloat64(d.m.redials); got != 1 {
			t.Errorf("redials_total = %v, want 1", got)
		}
	})

	t.Run("Stopped", func(t *testing.T) {
		d := newDirectory(t, srv, func(c *Config) { c.Timeout = 2 * time.Second })
		if _, err := d.Lookup(context.Background(), alice.Mail); err != nil {
			t.Fatalf("Lookup before stop: %v", err)
		}
		srv.Stop()
		start := time.Now()
		_, err := d.Lookup(context.Background(), alice.Mail)
		elapsed := time.Since(start)
		checkUnavailable(t, "Lookup", err, srv.URL(), "", srv.BindPassword())
		t.Logf("Lookup with slapd stopped failed in %v: %v", elapsed, err)
		checkUnavailable(t, "Healthy", d.Healthy(context.Background()), srv.URL(), "", srv.BindPassword())
		if _, err := d.Search(context.Background(), "ali", 5); !errors.Is(err, directory.ErrUnavailable) {
			t.Errorf("Search error = %v, want ErrUnavailable", err)
		}
		srv.Restart(t) // starts it again
		if _, err := d.Lookup(context.Background(), alice.Mail); err != nil {
			t.Fatalf("Lookup after start: %v", err)
		}
		if err := d.Healthy(context.Background()); err != nil {
			t.Fatalf("Healthy after start: %v", err)
		}
	})
}

func bulk(i int) slapdtest.User {
	name := fmt.Sprintf("bulk%04d", i)
	return slapdtest.User{SAMAccountName: name, Mail: name + "@example.com", DisplayName: "Bulk " + name}
}

// checkUnavailable checks that err wraps ErrUnavailable, names the server
// and contains want, and never contains the password.
func checkUnavailable(t *testing.T, call string, err error, server, want, password string) {
	t.Helper()
	switch {
	case !errors.Is(err, directory.ErrUnavailable):
		t.Errorf("%s error = %v, want ErrUnavailable", call, err)
	case !strings.Contains(err.Error(), server) || !strings.Contains(err.Error(), want):
		t.Errorf("%s error = %q, want it to name %s and say %q", call, err, server, want)
	case strings.Contains(err.Error(), password):
		t.Errorf("%s error %q contains the password", call, err)
	}
}

// TestGlobalCatalog runs against a slapd in the global-catalog view: the
// root base spans the forest.
func TestGlobalCatalog(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{Source: slapdtest.SourceGC, Users: []slapdtest.User{alice, dave}})
	for _, domain := range []string{slapdtest.RootDomain, ""} {
		t.Run("domain="+domain, func(t *testing.T) {
			d := newDirectory(t, srv, func(c *Config) { c.Domain = domain })
			checkLookups(t, d, []lookupCase{
				{"root", alice.Mail, entry(alice), nil},
				{"child", dave.Mail, entry(dave), nil},
			})
			got, err := d.Search(context.Background(), "a", 10)
			if err != nil {
				t.Fatalf("Search: %v", err)
			}
			if diff := cmp.Diff([]directory.Card{card(alice), card(dave)}, got); diff != "" {
				t.Errorf("Search(a) (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTimeout runs against a server that accepts connections and never
// answers: calls end with ErrUnavailable at the timeout or the caller's
// deadline, whichever is first.
func TestTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(func() { ln.Close() })
	wg.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never read
		}
	})
	for _, tt := range []struct {
		name     string
		timeout  time.Duration
		deadline time.Duration // of the caller's context; 0: none
	}{
		{"config timeout", 300 * time.Millisecond, 0},
		{"caller deadline", time.Minute, 300 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(Config{URLs: []string{ln.Addr().String()}, Domain: "example.com",
				BindDN: "cn=svc,dc=example,dc=com", BindPassword: "secret", Timeout: tt.timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			start := time.Now()
			_, err = d.Lookup(ctx, alice.Mail)
			t.Logf("Lookup failed after %v: %v", time.Since(start), err)
			if !errors.Is(err, directory.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Lookup error = %v, want ErrUnavailable and DeadlineExceeded", err)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no URLs", Config{}, "no URLs"},
		{"bad source", Config{URLs: []string{"dc1"}, Source: "ad"}, "source"},
		{"bad URL", Config{URLs: []string{"http://dc1"}}, "scheme"},
		{"StartTLS on ldaps", Config{URLs: []string{"ldaps://dc1"}, StartTLS: true}, "already TLS"},
		{"bad domain", Config{URLs: []string{"dc1"}, Domain: "a..b"}, "DNS label"},
		{"bad object filter", Config{URLs: []string{"dc1"}, ObjectFilter: "objectClass=user"}, "object filter"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// BenchmarkLookup measures a Lookup on a warm pool against slapd.
func BenchmarkLookup(b *testing.B) {
	srv := slapdtest.Start(b, slapdtest.Options{Users: []slapdtest.User{alice}})
	d, err := New(Config{URLs: []string{srv.URL()}, Domain: slapdtest.RootDomain, BindDN: srv.BindDN(), BindPassword: srv.BindPassword()})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Lookup(ctx, alice.Mail); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
