// Package slapdtest runs a real OpenLDAP slapd on loopback for integration
// tests, dressed as a small Active Directory forest.
//
// The forest has two domains: the root RootDomain (dc=example,dc=com) and
// its child ChildDomain (dc=emea,dc=example,dc=com), one back-mdb database
// each, both in one slapd. Options.Source picks the view a client gets:
//
//   - SourceLDAP, a domain controller: the databases are separate, so a
//     subtree search at one domain's base finds only that domain's users
//     (a search at the root base does not descend into the child).
//   - SourceGC, a global catalog: the child database is glued under the
//     root (olcSubordinate: TRUE), so a search at the root finds the users
//     of both, and olcDefaultSearchBase is the root, so a non-base search
//     with an empty base searches the whole forest.
//
// Users carry the AD attributes presenced reads (sAMAccountName,
// userPrincipalName, proxyAddresses, memberOf, msRTCSIP-PrimaryUserAddress,
// msRTCSIP-UserEnabled, msRTCSIP-DeploymentLocator) from a schema of our
// own in testdata/ad-schema.ldif, with test-only OIDs under
// 1.3.6.1.4.1.99999.1; object class user (SUP top, MUST cn only, as in AD)
// carries them. The XMPP address is stored in presencedXMPPAddress
// (XMPPAttribute) from the same schema, unless Options.XMPPAttribute names
// another attribute class user allows. A user with a Password can bind as
// itself. Options.Groups are groupOfNames entries next to the users, with
// member values; memberOf is not derived from them (no memberof overlay),
// only stored where User.MemberOf sets it.
//
// Start builds a private cn=config with `slapadd -n0`, loads the domains'
// first entries and Options.Users with `slapadd -b BASE -g -q`, and runs
// `slapd -F DIR -h "ldap://127.0.0.1:PORT/ ldaps://127.0.0.1:PORT2/" -d 0`
// in its own process group. The plain port offers StartTLS; both use a
// self-signed certificate made at test time (CAPool, CAFile). Anonymous
// clients may bind (as nobody, or as a user with its password) and read
// the rootDSE and subschema only; the service account (BindDN,
// BindPassword) reads everything, groups included, but passwords; a user
// bound as itself reads nothing; RootDN writes. Searches are capped at Options.SizeLimit entries (AD's 1000 by
// default) for everyone but RootDN, ending in "Size limit exceeded (4)";
// the paged-results control goes past the cap (size.prtotal=unlimited), as
// in AD.
//
// The rootDSE lists namingContexts (OpenLDAP's own: in the ldap view both
// suffixes, in the gc view only the root, since a glued subordinate is not
// a naming context of its own) and, from an olcRootDSE file, AD's
// defaultNamingContext and rootDomainNamingContext (both the root domain)
// and isGlobalCatalogReady (TRUE in the gc view). These three are
// user attributes here (OpenLDAP refuses operational types from a schema
// file): ask for them by name or with "*". slapadd -n0 cannot set
// olcRootDSE (it reads the file before cn=schema exists), so Start adds it
// with ldapmodify as cn=admin,cn=config after the first start; slapd.d then
// keeps it across Restart.
//
// slapd comes from the Debian packages slapd and ldap-utils. A missing
// slapd fails the test; it never skips.
package slapdtest

import (
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/testserver"
)

// The two domains of the test forest.
const (
	RootDomain  = "example.com"
	ChildDomain = "emea.example.com"
)

// The views Options.Source selects.
const (
	SourceLDAP = "ldap" // a domain controller: one domain per search base
	SourceGC   = "gc"   // a global catalog: the root base spans the forest
)

// DefaultSizeLimit is Options.SizeLimit's default, AD's MaxPageSize.
const DefaultSizeLimit = 1000

// XMPPAttribute is the default attribute for User.XMPPAddress.
const XMPPAttribute = "presencedXMPPAddress"

// configRootDN administers cn=config (olcRootDN of the config database),
// with RootPassword.
const configRootDN = "cn=admin,cn=config"

// readyTimeout bounds the wait for a started slapd to answer on its ports.
const readyTimeout = 20 * time.Second

// stopGrace is how long Stop waits after SIGTERM before sending SIGKILL.
const stopGrace = 10 * time.Second

// Options configures a test slapd. The zero value is a domain controller
// view (SourceLDAP) with no users.
type Options struct {
	// Source is SourceLDAP (default) or SourceGC.
	Source string
	// SizeLimit caps the entries one search returns (default
	// DefaultSizeLimit; negative means unlimited).
	SizeLimit int
	// Users are loaded with slapadd before slapd first starts, the cheap
	// way to load thousands (see AddUsers for later ones).
	Users []User
	// Groups are loaded with slapadd after Users, before slapd first
	// starts; a group without members is left out (see Group).
	Groups []Group
	// BindPassword is the service account's password (default random).
	BindPassword string
	// XMPPAttribute is where User.XMPPAddress is stored (default
	// XMPPAttribute); class user must allow it.
	XMPPAttribute string
	// Verbose runs slapd with -d stats instead of -d 0, so its output (see
	// LogTail) shows every connection and operation. (olcLogLevel goes to
	// syslog only; -d is what reaches the output.)
	Verbose bool
}

// Server is a running test slapd. Its methods are safe for concurrent use.
type Server struct {
	tools     map[string]string // program name -> path
	dir       string
	confDir   string // cn=config (slapd -F), kept across Restart
	certFile  string
	cert      *testserver.Cert
	port      int // ldap:// with StartTLS
	ldapsPort int
	rootPW    string
	opts      Options

	// mu guards the fields below.
	mu   sync.Mutex
	run  int                 // number of the current or last run, from 1
	proc *testserver.Process // current process, nil when stopped
	log  string              // slapd's output of the current or last run
}

// Start runs slapd on loopback and stops it when tb's test ends. It calls
// tb.Fatal if slapd is not installed, cannot be configured or started, or
// does not answer on both ports within 20 seconds.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.Source == "" {
		opts.Source = SourceLDAP
	}
	if opts.Source != SourceLDAP && opts.Source != SourceGC {
		tb.Fatalf("slapdtest: Options.Source %q is neither %q nor %q", opts.Source, SourceLDAP, SourceGC)
	}
	if opts.SizeLimit == 0 {
		opts.SizeLimit = DefaultSizeLimit
	}
	if opts.BindPassword == "" {
		opts.BindPassword = randomSecret()
	}
	if opts.XMPPAttribute == "" {
		opts.XMPPAttribute = XMPPAttribute
	}
	found, err := findTools()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{tools: found, dir: tb.TempDir(), rootPW: randomSecret(), opts: opts}
	s.confDir = filepath.Join(s.dir, "slapd.d")
	s.port = testserver.FreePort(tb)
	s.ldapsPort = testserver.FreePort(tb)
	if s.cert, err = testserver.SelfSigned("localhost", "ldap.example.com"); err != nil {
		tb.Fatal(err)
	}
	s.certFile = filepath.Join(s.dir, "server.crt")
	if err := s.cert.WriteFiles(s.certFile, filepath.Join(s.dir, "server.key")); err != nil {
		tb.Fatal(err)
	}
	if err := s.configure(); err != nil {
		tb.Fatal(err)
	}
	if err := s.slapadd(opts.Users); err != nil {
		tb.Fatal(err)
	}
	groups, err := s.groupsLDIF(opts.Groups)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.slapaddDomains(groups); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	s.start(tb)
	if err := s.addRootDSE(); err != nil {
		tb.Fatalf("%v\n--- slapd output ---\n%s", err, s.LogTail(20))
	}
	return s
}

// Addr returns the host:port of the ldap:// listener, which offers StartTLS.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// LDAPSAddr returns the host:port of the ldaps:// listener (TLS from the
// first byte).
func (s *Server) LDAPSAddr() string { return fmt.Sprintf("127.0.0.1:%d", s.ldapsPort) }

// URL returns "ldap://" + Addr().
func (s *Server) URL() string { return "ldap://" + s.Addr() }

// LDAPSURL returns "ldaps://" + LDAPSAddr().
func (s *Server) LDAPSURL() string { return "ldaps://" + s.LDAPSAddr() }

// Source returns the view, SourceLDAP or SourceGC.
func (s *Server) Source() string { return s.opts.Source }

// SizeLimit returns the search size limit (negative: unlimited).
func (s *Server) SizeLimit() int { return s.opts.SizeLimit }

// BindDN returns the service account's DN; it may read every entry and
// attribute except userPassword.
func (s *Server) BindDN() string { return "cn=presenced-svc,cn=Users," + DomainDN(RootDomain) }

// BindPassword returns the service account's password.
func (s *Server) BindPassword() string { return s.opts.BindPassword }

// RootDN returns the administrator's DN (olcRootDN of both databases): no
// access control and no size limit apply to it.
func (s *Server) RootDN() string { return "cn=admin," + DomainDN(RootDomain) }

// RootPassword returns the administrator's password.
func (s *Server) RootPassword() string { return s.rootPW }

// BaseDN returns the naming context of domain, RootDomain when domain is
// empty: "dc=example,dc=com" or "dc=emea,dc=example,dc=com". slapd returns
// DNs with lower-case attribute types; compare DNs case-insensitively.
func (s *Server) BaseDN(domain string) string {
	if domain == "" {
		domain = RootDomain
	}
	return DomainDN(domain)
}

// UserDN returns the DN AddUsers gives u: cn=SAMACCOUNTNAME,cn=Users,BASE.
func (s *Server) UserDN(u User) string { return userDN(u, s.BaseDN(u.Domain)) }

// GroupDN returns the DN Options.Groups gives g: cn=CN,cn=Users,BASE.
func (s *Server) GroupDN(g Group) string { return groupDN(g, s.BaseDN(g.Domain)) }

// XMPPAttribute returns the attribute holding User.XMPPAddress.
func (s *Server) XMPPAttribute() string { return s.opts.XMPPAttribute }

// CertFile returns the PEM file of slapd's self-signed certificate, valid
// for localhost, ldap.example.com and 127.0.0.1; it is its own CA.
func (s *Server) CertFile() string { return s.certFile }

// CAPool returns a new pool holding slapd's certificate, for
// tls.Config.RootCAs.
func (s *Server) CAPool() *x509.CertPool { return s.cert.Pool() }

// Dir returns the server's directory: slapd.d (cn=config), one mdb
// directory per domain (both kept across Restart) and one output file per
// run.
func (s *Server) Dir() string { return s.dir }

// LogTail returns the last n lines of the current run's slapd output.
func (s *Server) LogTail(n int) string {
	s.mu.Lock()
	path := s.log
	s.mu.Unlock()
	return testserver.Tail(path, n)
}

// Restart stops slapd and starts it again on the same ports with the same
// configuration and databases: entries survive, connections do not.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	s.start(tb)
}

// Stop stops slapd (SIGTERM to its process group, which makes slapd close
// its databases cleanly; SIGKILL after a few seconds) and waits for it. It
// is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	proc := s.proc
	s.proc = nil
	s.mu.Unlock()
	if proc != nil {
		proc.Stop(syscall.SIGTERM, stopGrace)
	}
}

// running reports whether slapd has been started and not stopped.
func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// start launches slapd on the existing configuration and waits until both
// ports answer an anonymous bind.
func (s *Server) start(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	s.run++
	s.log = filepath.Join(s.dir, fmt.Sprintf("slapd-%d.log", s.run))
	logPath := s.log
	s.mu.Unlock()

	urls := s.URL() + "/ " + s.LDAPSURL() + "/"
	cmd := exec.Command(s.tools["slapd"], "-F", s.confDir, "-h", urls, "-d", s.debugLevel())
	cmd.Dir = s.dir
	// Pdeathsig: a test binary that dies must not leave slapd on its ports.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	proc, err := testserver.Start(cmd, logPath)
	if err != nil {
		tb.Fatalf("slapdtest: %v", err)
	}
	s.mu.Lock()
	s.proc = proc
	s.mu.Unlock()

	ready := func() error { return s.probe(time.Second) }
	if err := proc.WaitReady(readyTimeout, ready); err != nil {
		s.Stop()
		tb.Fatalf("slapdtest: %v\n--- slapd output ---\n%s", err, testserver.Tail(logPath, 40))
	}
}

// debugLevel returns slapd's -d argument: 0 keeps it in the foreground
// with no output but fatal errors; with Options.Verbose, "stats" logs every
// connection and operation to its output.
func (s *Server) debugLevel() string {
	if s.opts.Verbose {
		return "stats"
	}
	return "0"
}

// domains returns the forest's domains, child first (the database order).
func domains() []string { return []string{ChildDomain, RootDomain} }

// dbDir returns the mdb directory of domain.
func (s *Server) dbDir(domain string) string {
	return filepath.Join(s.dir, "db-"+strings.ReplaceAll(domain, ".", "-"))
}

// configure writes the schema, rootDSE and cn=config files, builds slapd.d
// with `slapadd -n0` and loads each domain's first entries.
func (s *Server) configure() error {
	root := DomainDN(RootDomain)
	adSchema := filepath.Join(s.dir, "ad-schema.ldif")
	schema, err := testdata.ReadFile("testdata/ad-schema.ldif")
	if err != nil {
		return fmt.Errorf("slapdtest: %w", err)
	}
	if err := writeFile(adSchema, schema, 0o644); err != nil {
		return err
	}
	rootDSE := filepath.Join(s.dir, "rootdse.ldif")
	gc := s.opts.Source == SourceGC
	if err := renderFile(rootDSE, "rootdse.ldif.tmpl", rootDSEData{DefaultNC: root, RootBase: root, GlobalCatalog: gc}); err != nil {
		return err
	}
	// prtotal lets the paged-results control go past the limit, as in AD.
	sizeLimit := fmt.Sprintf("size.soft=%d size.hard=%d size.prtotal=unlimited", s.opts.SizeLimit, s.opts.SizeLimit)
	if s.opts.SizeLimit < 0 {
		sizeLimit = "unlimited"
	}
	d := configData{
		Dir: s.dir, CertFile: s.certFile, KeyFile: filepath.Join(s.dir, "server.key"),
		LogLevel: "none", RootDSEFile: rootDSE,
		ModuleDir: moduleDir, SchemaDir: schemaDir, ADSchemaFile: adSchema,
		SizeLimit: sizeLimit, GlobalCatalog: gc,
		RootBase: root, RootDN: s.RootDN(), RootPWHash: ssha(s.rootPW), BindDN: s.BindDN(),
		ConfigRootDN: configRootDN,
	}
	for _, dom := range domains() {
		d.Databases = append(d.Databases, database{Dir: s.dbDir(dom), Suffix: DomainDN(dom), Root: dom == RootDomain})
		if err := os.MkdirAll(s.dbDir(dom), 0o700); err != nil {
			return fmt.Errorf("slapdtest: %w", err)
		}
	}
	confLDIF := filepath.Join(s.dir, "slapd.ldif")
	if err := renderFile(confLDIF, "slapd.ldif.tmpl", d); err != nil {
		return err
	}
	if err := os.MkdirAll(s.confDir, 0o700); err != nil {
		return fmt.Errorf("slapdtest: %w", err)
	}
	if err := s.runTool("slapadd", "-F", s.confDir, "-n0", "-l", confLDIF); err != nil {
		return fmt.Errorf("slapdtest: build cn=config: %w", err)
	}
	for _, dom := range domains() {
		base, err := render("base.ldif.tmpl", baseData{
			Base: DomainDN(dom), DC: strings.SplitN(dom, ".", 2)[0], Root: dom == RootDomain,
			BindDN: s.BindDN(), BindCN: "presenced-svc", BindPWHash: ssha(s.opts.BindPassword),
		})
		if err != nil {
			return err
		}
		if err := s.slapaddLDIF(dom, base); err != nil {
			return err
		}
	}
	return nil
}

// addRootDSE points olcRootDSE at rootdse.ldif through the running
// server's cn=config. slapadd -n0 cannot set it: the file is parsed with
// the cn=config entry, before cn=schema defines its attributes.
func (s *Server) addRootDSE() error {
	mod := "dn: cn=config\nchangetype: modify\nadd: olcRootDSE\nolcRootDSE: " +
		filepath.Join(s.dir, "rootdse.ldif") + "\n"
	if err := s.ldapTool("ldapmodify", configRootDN, mod); err != nil {
		return fmt.Errorf("slapdtest: set olcRootDSE: %w", err)
	}
	return nil
}

// runTool runs the OpenLDAP program name with args, returning its output
// in the error.
func (s *Server) runTool(name string, args ...string) error {
	cmd := exec.Command(s.tools[name], args...)
	cmd.Env = append(os.Environ(), "LDAPNOINIT=1") // ignore ~/.ldaprc and /etc/ldap/ldap.conf
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	return nil
}
