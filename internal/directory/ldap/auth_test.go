package ldap

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/presenced/presenced/internal/directory"
	"github.com/presenced/presenced/internal/directory/slapdtest"
)

// The users of TestAuthenticate, each with its own password (none for
// nopw). ann, nopw and star*user are listed in admins; mo is not, but names
// admins in memberOf (in another spelling); ben is in staff only; the twins
// share one mail; dave is in the child domain, outside the search base.
var (
	ann = slapdtest.User{SAMAccountName: "ann", Mail: "ann@example.com",
		UserPrincipalName: "ann@corp.example.com", Password: "ann's pw (1)"}
	ben   = slapdtest.User{SAMAccountName: "ben", Mail: "ben@example.com", Password: "ben-pw"}
	mo    = slapdtest.User{SAMAccountName: "mo", Mail: "mo@example.com", Password: "mo-pw"}
	nopw  = slapdtest.User{SAMAccountName: "nopw", Mail: "nopw@example.com"}
	star  = slapdtest.User{SAMAccountName: "star*user", Mail: "star@example.com", Password: "star-pw"}
	twin1 = slapdtest.User{SAMAccountName: "twin1", Mail: "twin@example.com", Password: "twin-pw"}
	twin2 = slapdtest.User{SAMAccountName: "twin2", Mail: "twin@example.com", Password: "twin-pw"}
	kid   = slapdtest.User{Domain: slapdtest.ChildDomain, SAMAccountName: "kid", Mail: "kid@emea.example.com", Password: "kid-pw"}

	admins = slapdtest.Group{CN: "Presence Admins", Members: []string{"ann", "nopw", "star*user", "twin1", "twin2"}}
	staff  = slapdtest.Group{CN: "staff", Members: []string{"ben"}}
)

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// conns returns the number of connections the proxy has accepted.
func (p *breakingProxy) conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pairs)
}

// TestAuthenticate runs against one slapd (domain-controller view) for
// every subtest; the one that stops it comes last.
func TestAuthenticate(t *testing.T) {
	users := []slapdtest.User{ann, ben, nopw, star, twin1, twin2, kid}
	srv := slapdtest.Start(t, slapdtest.Options{Users: users, Groups: []slapdtest.Group{admins, staff}})
	adminsDN, staffDN := srv.GroupDN(admins), srv.GroupDN(staff)
	// mo's memberOf spells the group's DN otherwise; it must still match.
	mo := mo
	mo.MemberOf = []string{"CN=presence admins, CN=USERS, DC=Example, DC=Com", staffDN}
	srv.AddUsers(t, []slapdtest.User{mo})

	var logs lockedBuffer
	newAuthDirectory := func(t *testing.T, edit func(*Config)) *Directory {
		return newDirectory(t, srv, func(c *Config) {
			c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			if edit != nil {
				edit(c)
			}
		})
	}
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("directory log:\n%s", logs.String())
		}
		for _, u := range append(users, mo) {
			if u.Password != "" && strings.Contains(logs.String(), u.Password) {
				t.Errorf("the log holds %s's password:\n%s", u.SAMAccountName, logs.String())
			}
		}
	})
	account := func(u slapdtest.User) directory.Account {
		return directory.Account{DN: srv.UserDN(u), Mail: u.Mail, SAMAccountName: u.SAMAccountName}
	}

	t.Run("Outcomes", func(t *testing.T) {
		d := newAuthDirectory(t, nil)
		none := directory.Account{}
		tests := []struct {
			name, login, password, group string
			want                         directory.Account
			err                          error
		}{
			{"mail", ann.Mail, ann.Password, adminsDN, account(ann), nil},
			{"mail any case", "ANN@Example.COM", ann.Password, adminsDN, account(ann), nil},
			{"sAMAccountName", "ann", ann.Password, adminsDN, account(ann), nil},
			{"sAMAccountName any case", "AnN", ann.Password, adminsDN, account(ann), nil},
			{"userPrincipalName", "Ann@Corp.Example.com", ann.Password, adminsDN, account(ann), nil},
			{"group DN any case", "ann", ann.Password, strings.ToUpper(adminsDN), account(ann), nil},
			{"memberOf", "mo", mo.Password, adminsDN, account(mo), nil},
			{"memberOf, listed elsewhere", "mo", mo.Password, staffDN, account(mo), nil},
			{"metacharacter in the login matches itself", "star*user", star.Password, adminsDN, account(star), nil},
			{"not a member", "ben", ben.Password, adminsDN, none, directory.ErrNotMember},
			{"member of another group", "ann", ann.Password, staffDN, none, directory.ErrNotMember},
			{"group does not exist", "ann", ann.Password, "cn=nope,cn=Users,dc=example,dc=com", none, directory.ErrNotMember},
			{"group in no naming context", "ann", ann.Password, "cn=admins,dc=elsewhere", none, directory.ErrNotMember},
			{"group is not a DN", "ann", ann.Password, "Presence Admins", none, directory.ErrNotMember},
			{"group empty", "ann", ann.Password, "", none, directory.ErrNotMember},
			{"wrong password", "ann", "ann's pw (2)", adminsDN, none, directory.ErrBadCredentials},
			{"password case", "ann", strings.ToUpper(ann.Password), adminsDN, none, directory.ErrBadCredentials},
			{"another user's password", "ann", ben.Password, adminsDN, none, directory.ErrBadCredentials},
			{"service account's password", "ann", srv.BindPassword(), adminsDN, none, directory.ErrBadCredentials},
			{"empty password", "ann", "", adminsDN, none, directory.ErrBadCredentials},
			{"no userPassword", "nopw", "anything", adminsDN, none, directory.ErrBadCredentials},
			{"no userPassword, empty password", "nopw", "", adminsDN, none, directory.ErrBadCredentials},
			{"unknown login", "nobody@example.com", ann.Password, adminsDN, none, directory.ErrBadCredentials},
			{"substring of a login", "an", ann.Password, adminsDN, none, directory.ErrBadCredentials},
			{"star", "*", ann.Password, adminsDN, none, directory.ErrBadCredentials},
			{"star prefix", "star*", star.Password, adminsDN, none, directory.ErrBadCredentials},
			{"injection", "*)(sAMAccountName=*", ann.Password, adminsDN, none, directory.ErrBadCredentials},
			{"injection closing", "ann)(|(mail=*", ann.Password, adminsDN, none, directory.ErrBadCredentials},
			{"parentheses", ")(", ann.Password, adminsDN, none, directory.ErrBadCredentials},
			{"backslash", `ann\`, ann.Password, adminsDN, none, directory.ErrBadCredentials},
			{"NUL", "ann\x00", ann.Password, adminsDN, none, directory.ErrBadCredentials},
			{"several entries", twin1.Mail, twin1.Password, adminsDN, none, directory.ErrBadCredentials},
			{"outside the search base", kid.Mail, kid.Password, adminsDN, none, directory.ErrBadCredentials},
			{"empty login", "", ann.Password, adminsDN, none, directory.ErrBadCredentials},
			{"login too long", strings.Repeat("a", directory.MaxLogin+1), ann.Password, adminsDN, none, directory.ErrBadCredentials},
			{"password too long", "ann", strings.Repeat("p", directory.MaxPassword+1), adminsDN, none, directory.ErrBadCredentials},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := d.Authenticate(context.Background(), tt.login, tt.password, tt.group)
				if !errors.Is(err, tt.err) || (err != nil) != (tt.err != nil) {
					t.Fatalf("Authenticate(%q) error = %v, want %v", tt.login, err, tt.err)
				}
				if errors.Is(err, directory.ErrUnavailable) {
					t.Errorf("Authenticate(%q) error %v also wraps ErrUnavailable", tt.login, err)
				}
				if tt.password != "" && err != nil && strings.Contains(err.Error(), tt.password) {
					t.Errorf("Authenticate(%q) error %q holds the password", tt.login, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Authenticate(%q) (-want +got):\n%s", tt.login, diff)
				}
			})
		}
		if !strings.Contains(logs.String(), "the group does not exist") {
			t.Errorf("no warning that the group does not exist in the log:\n%s", logs.String())
		}
	})

	t.Run("ObjectFilter", func(t *testing.T) {
		// An entry outside the configured objects cannot log in.
		d := newAuthDirectory(t, func(c *Config) { c.ObjectFilter = "(&(objectClass=user)(!(sAMAccountName=ann)))" })
		if _, err := d.Authenticate(context.Background(), "ann", ann.Password, adminsDN); !errors.Is(err, directory.ErrBadCredentials) {
			t.Errorf("Authenticate of an entry outside ObjectFilter = %v, want ErrBadCredentials", err)
		}
		if _, err := d.Authenticate(context.Background(), "mo", mo.Password, adminsDN); err != nil {
			t.Errorf("Authenticate of mo: %v", err)
		}
	})

	t.Run("NoBindWithoutPassword", func(t *testing.T) {
		// Through a proxy that counts connections: a refused empty
		// password opens none (no search, no bind); a wrong one opens a
		// pooled connection for the search and one more for the bind.
		proxy := startProxy(t, srv.Addr())
		d := newAuthDirectory(t, func(c *Config) { c.URLs = []string{proxy.addr()} })
		for _, login := range []string{"ann", "nopw"} {
			if _, err := d.Authenticate(context.Background(), login, "", adminsDN); !errors.Is(err, directory.ErrBadCredentials) {
				t.Errorf("Authenticate(%s, empty password) = %v, want ErrBadCredentials", login, err)
			}
		}
		if n := proxy.conns(); n != 0 {
			t.Fatalf("empty passwords opened %d connections, want 0", n)
		}
		if _, err := d.Authenticate(context.Background(), "ann", "wrong", adminsDN); !errors.Is(err, directory.ErrBadCredentials) {
			t.Errorf("Authenticate(ann, wrong) = %v, want ErrBadCredentials", err)
		}
		if n := proxy.conns(); n != 2 {
			t.Errorf("a wrong password opened %d connections, want 2 (pool, bind)", n)
		}
		if _, err := d.Authenticate(context.Background(), "ann", ann.Password, adminsDN); err != nil {
			t.Errorf("Authenticate(ann): %v", err)
		}
		if n := proxy.conns(); n != 3 {
			t.Errorf("after a right password %d connections were opened, want 3 (the pooled one reused)", n)
		}
	})

	t.Run("PoolKeepsServiceIdentity", func(t *testing.T) {
		d := newAuthDirectory(t, func(c *Config) { c.PoolSize = 1 })
		ctx := context.Background()
		for range 3 {
			if _, err := d.Authenticate(ctx, "ann", ann.Password, adminsDN); err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if _, err := d.Authenticate(ctx, "ann", "wrong", adminsDN); !errors.Is(err, directory.ErrBadCredentials) {
				t.Fatalf("Authenticate with a wrong password = %v, want ErrBadCredentials", err)
			}
		}
		got, err := d.Lookup(ctx, ann.Mail)
		if err != nil {
			t.Fatalf("Lookup after Authenticate: %v", err)
		}
		if diff := cmp.Diff(entry(ann), got); diff != "" {
			t.Errorf("Lookup after Authenticate (-want +got):\n%s", diff)
		}
		if got := testutil.ToFloat64(d.m.connections); got != 1 {
			t.Errorf("pool_connections = %v, want 1 (the bind connections are not pooled)", got)
		}
		c, reused, err := d.pool.get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer d.pool.put(c, false)
		if !reused {
			t.Error("the pool had no idle connection")
		}
		who, err := c.WhoAmI(nil)
		if err != nil {
			t.Fatalf("WhoAmI: %v", err)
		}
		if !strings.EqualFold(who.AuthzID, "dn:"+srv.BindDN()) {
			t.Errorf("pooled connection is %q, want dn:%s", who.AuthzID, srv.BindDN())
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		d := newAuthDirectory(t, func(c *Config) { c.PoolSize = 2 })
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 8 {
			wg.Go(func() {
				for range 4 {
					_, err := d.Authenticate(context.Background(), "ann", ann.Password, adminsDN)
					if err != nil {
						errs <- err
					}
					if _, err := d.Authenticate(context.Background(), "ben", ben.Password, adminsDN); !errors.Is(err, directory.ErrNotMember) {
						errs <- err
					}
					if i%2 == 0 {
						if _, err := d.Lookup(context.Background(), ann.Mail); err != nil {
							errs <- err
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("Metrics", func(t *testing.T) {
		d := newAuthDirectory(t, nil)
		ctx := context.Background()
		d.Authenticate(ctx, "ann", ann.Password, adminsDN)
		d.Authenticate(ctx, "ann", "wrong", adminsDN)
		d.Authenticate(ctx, "ann", "", adminsDN)
		d.Authenticate(ctx, "ben", ben.Password, adminsDN)
		for _, c := range []struct {
			result string
			want   float64
		}{{resultOK, 1}, {resultBadCredentials, 2}, {resultNotMember, 1}, {resultInvalid, 0}, {resultNotFound, 0}, {resultUnavailable, 0}} {
			if got := testutil.ToFloat64(d.m.requests.WithLabelValues(opAuthenticate, c.result)); got != c.want {
				t.Errorf("requests_total{authenticate,%s} = %v, want %v", c.result, got, c.want)
			}
		}
	})

	// Destructive: the server stops.
	t.Run("Stopped", func(t *testing.T) {
		d := newAuthDirectory(t, nil)
		if _, err := d.Authenticate(context.Background(), "ann", ann.Password, adminsDN); err != nil {
			t.Fatalf("Authenticate before stop: %v", err)
		}
		srv.Stop()
		_, err := d.Authenticate(context.Background(), "ann", ann.Password, adminsDN)
		checkUnavailable(t, "Authenticate", err, srv.URL(), "", ann.Password)
		if errors.Is(err, directory.ErrBadCredentials) || errors.Is(err, directory.ErrNotMember) {
			t.Errorf("Authenticate with slapd stopped = %v, want neither ErrBadCredentials nor ErrNotMember", err)
		}
		if got := testutil.ToFloat64(d.m.requests.WithLabelValues(opAuthenticate, resultUnavailable)); got != 1 {
			t.Errorf("requests_total{authenticate,unavailable} = %v, want 1", got)
		}
	})
}

// TestLoginFilter checks that the login is escaped in all three
// assertions and that the configured attribute names are used.
func TestLoginFilter(t *testing.T) {
	got := loginFilter("(objectClass=user)", DefaultAttributes, `a*)(b\`)
	want := `(&(objectClass=user)(|(mail=a\2a\29\28b\5c)(sAMAccountName=a\2a\29\28b\5c)(userPrincipalName=a\2a\29\28b\5c)))`
	if got != want {
		t.Errorf("loginFilter = %s, want %s", got, want)
	}
	custom := DefaultAttributes
	custom.Mail, custom.SAMAccountName = "altMail", "uid"
	got = loginFilter("(objectClass=person)", custom, "ann")
	want = "(&(objectClass=person)(|(altMail=ann)(uid=ann)(userPrincipalName=ann)))"
	if got != want {
		t.Errorf("loginFilter with other attributes = %s, want %s", got, want)
	}
}
