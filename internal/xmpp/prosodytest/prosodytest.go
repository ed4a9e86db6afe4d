// Package prosodytest runs a real Prosody XMPP server on loopback for
// integration tests.
//
// Start renders a Prosody configuration into a temporary directory (one
// VirtualHost, one XEP-0114 component, a self-signed certificate made at
// test time, internal_plain accounts in internal storage), runs
// `prosody -F --config FILE` as a child process in its own process group,
// waits until both the c2s and the component port answer with an XMPP
// stream, and stops it when the test ends.
//
// Prosody comes from the Debian packages prosody and prosody-modules (the
// latter for mod_privilege, Options.Privileged). A missing Prosody fails the
// test; it never skips, so a machine without the packages cannot silently
// pass.
//
// Prosody 0.12.3 behaviour worth knowing when writing tests against it:
//   - c2s offers STARTTLS and requires it before authentication; after TLS
//     it offers SCRAM-SHA-1, SCRAM-SHA-256 and PLAIN (internal_plain keeps
//     the password, so every mechanism works).
//   - Accounts are read from disk on every lookup (mod_storage_internal has
//     no cache), so AddUser works before Start and while Prosody runs.
//   - With Options.Privileged, a component that completes its handshake
//     first receives a <message from=DOMAIN> carrying
//     <privilege xmlns="urn:xmpp:privilege:2"> with one <perm/> per granted
//     access, then the current presence of every online user, then every
//     later presence broadcast of the host's users.
//   - `prosody --version` does not exist in 0.12: unknown flags are ignored
//     and it starts the system-wide server. Use `prosodyctl about`.
package prosodytest

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
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

// DefaultDomain is the VirtualHost served when Options.Domain is empty.
const DefaultDomain = "example.com"

// DefaultComponent is the component address used when Options.Component is
// empty.
const DefaultComponent = "presence.example.com"

// readyTimeout bounds the wait for a started Prosody to answer on its ports.
const readyTimeout = 20 * time.Second

// stopGrace is how long Stop waits after SIGTERM before sending SIGKILL.
const stopGrace = 5 * time.Second

// Options configures a test Prosody. The zero value serves DefaultDomain
// with an unprivileged component DefaultComponent and a random secret.
type Options struct {
	// Domain is the VirtualHost (default DefaultDomain).
	Domain string
	// Component is the XEP-0114 component address (default
	// DefaultComponent).
	Component string
	// ComponentSecret is the component's shared secret (default 32 random
	// hex digits; see Server.Secret).
	ComponentSecret string
	// Privileged loads mod_privilege (XEP-0356) on the host and the
	// component and grants the component roster "both", message
	// "outgoing" and presence "roster".
	Privileged bool
	// Users are accounts (prepared localpart -> password) written before
	// Prosody first starts; see Server.AddUser.
	Users map[string]string
	// Verbose lowers Prosody's log level from info to debug, which logs
	// every stanza.
	Verbose bool
}

// Server is a running test Prosody. Its methods are safe for concurrent use.
type Server struct {
	bin       string
	pluginDir string // "" without Options.Privileged
	dir       string
	dataDir   string
	certFile  string
	keyFile   string
	cert      *testserver.Cert
	c2sPort   int
	tlsPort   int // c2s with direct TLS (XEP-0368)
	compPort  int
	opts      Options

	// mu guards the fields below.
	mu   sync.Mutex
	run  int                 // number of the current or last run, from 1
	proc *testserver.Process // current process, nil when stopped
	log  string              // Prosody's log file of the current or last run
}

// Start runs Prosody on loopback and stops it when tb's test ends. It calls
// tb.Fatal if Prosody is not installed, cannot start, or does not answer on
// its c2s and component ports within 20 seconds.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	if opts.Component == "" {
		opts.Component = DefaultComponent
	}
	if opts.ComponentSecret == "" {
		opts.ComponentSecret = randomSecret()
	}
	bin, err := findProsody()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{bin: bin, dir: tb.TempDir(), opts: opts}
	if opts.Privileged {
		if s.pluginDir, err = findPluginDir(); err != nil {
			tb.Fatal(err)
		}
	}
	s.dataDir = filepath.Join(s.dir, "data")
	for user, password := range opts.Users {
		s.AddUser(tb, user, password)
	}
	certDir := filepath.Join(s.dir, "certs")
	if err := os.MkdirAll(certDir, 0o755); err != nil {
		tb.Fatalf("prosodytest: %v", err)
	}
	s.certFile = filepath.Join(certDir, "server.crt")
	s.keyFile = filepath.Join(certDir, "server.key")
	if s.cert, err = testserver.SelfSigned(opts.Domain, opts.Component, "localhost"); err != nil {
		tb.Fatal(err)
	}
	if err := s.cert.WriteFiles(s.certFile, s.keyFile); err != nil {
		tb.Fatal(err)
	}
	s.c2sPort = testserver.FreePort(tb)
	s.compPort = testserver.FreePort(tb)
	s.tlsPort = testserver.FreePort(tb)
	tb.Cleanup(s.Stop)
	s.start(tb)
	return s
}

// randomSecret returns 32 random hex digits.
func randomSecret() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// C2SAddr returns the host:port of the client-to-server listener (STARTTLS).
func (s *Server) C2SAddr() string { return fmt.Sprintf("127.0.0.1:%d", s.c2sPort) }

// DirectTLSAddr returns the host:port of the client listener that speaks
// TLS from the first byte (XEP-0368), with the same certificate.
func (s *Server) DirectTLSAddr() string { return fmt.Sprintf("127.0.0.1:%d", s.tlsPort) }

// ComponentAddr returns the host:port of the XEP-0114 component listener.
func (s *Server) ComponentAddr() string { return fmt.Sprintf("127.0.0.1:%d", s.compPort) }

// Domain returns the VirtualHost.
func (s *Server) Domain() string { return s.opts.Domain }

// Component returns the component address.
func (s *Server) Component() string { return s.opts.Component }

// Secret returns the component's shared secret.
func (s *Server) Secret() string { return s.opts.ComponentSecret }

// CertFile returns the PEM file of Prosody's self-signed certificate, valid
// for Domain, Component, localhost and 127.0.0.1.
func (s *Server) CertFile() string { return s.certFile }

// CAPool returns a new pool holding Prosody's certificate, for
// tls.Config.RootCAs with ServerName set to Domain.
func (s *Server) CAPool() *x509.CertPool { return s.cert.Pool() }

// Dir returns the server's directory: prosody.cfg.lua, certs/, data/ (the
// internal storage, kept across Restart) and one log per run.
func (s *Server) Dir() string { return s.dir }

// AddUser creates or replaces the account user@Domain with password by
// writing it into Prosody's internal storage, as
// DATA/example%2ecom/accounts/USER.dat holding
//
//	return {
//		["password"] = "...";
//	};
//
// It works before Start and while Prosody runs (accounts are read at each
// login), and costs one small file, so thousands of users are cheap. user
// must already be in nodeprep form: Prosody looks accounts up by the
// prepared localpart, so AddUser rejects upper-case letters and the
// characters nodeprep forbids.
func (s *Server) AddUser(tb testing.TB, user, password string) {
	tb.Helper()
	if err := checkUser(user); err != nil {
		tb.Fatal(err)
	}
	if err := writeAccount(s.dataDir, s.opts.Domain, user, password); err != nil {
		tb.Fatal(err)
	}
}

// RegisterUser creates an account with Prosody's own admin tool,
// `prosodyctl --config ... register USER DOMAIN PASSWORD` (about 0.1-0.3 s
// each; AddUser writes the storage directly for bulk users).
func (s *Server) RegisterUser(tb testing.TB, user, password string) {
	tb.Helper()
	if err := checkUser(user); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(prosodyctl, "--config", filepath.Join(s.dir, "prosody.cfg.lua"), "register", user, s.opts.Domain, password)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("prosodytest: prosodyctl register %s: %v\n%s", user, err, out)
	}
}

// prosodyctl is Prosody's admin tool (Debian package prosody).
const prosodyctl = "/usr/bin/prosodyctl"

// checkUser reports why user is not a usable prepared localpart, or nil.
func checkUser(user string) error {
	if user == "" {
		return errors.New("prosodytest: empty user")
	}
	if strings.ContainsAny(user, "\"&'/:<>@ \t\r\n") || strings.ToLower(user) != user {
		return fmt.Errorf("prosodytest: user %q is not a prepared localpart (lower case, none of \"&'/:<>@ or spaces)", user)
	}
	return nil
}

// LogTail returns the last n lines of the current run's Prosody log.
func (s *Server) LogTail(n int) string {
	s.mu.Lock()
	path := s.log
	s.mu.Unlock()
	return testserver.Tail(path, n)
}

// Restart stops Prosody and starts it again on the same ports with the same
// data directory: accounts and rosters survive, sessions do not.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	s.start(tb)
}

// Stop stops Prosody (SIGTERM to its process group, SIGKILL after a few
// seconds) and waits for it. It is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	proc := s.proc
	s.proc = nil
	s.mu.Unlock()
	if proc != nil {
		proc.Stop(syscall.SIGTERM, stopGrace)
	}
}

// start renders the configuration for the next run, launches Prosody and
// waits until it is ready.
func (s *Server) start(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	s.run++
	s.log = filepath.Join(s.dir, fmt.Sprintf("prosody-%d.log", s.run))
	logPath := s.log
	outPath := filepath.Join(s.dir, fmt.Sprintf("prosody-%d.out", s.run))
	s.mu.Unlock()

	cfg := filepath.Join(s.dir, "prosody.cfg.lua")
	level := "info"
	if s.opts.Verbose {
		level = "debug"
	}
	err := renderConfig(cfg, configData{
		Dir:           s.dir,
		DataDir:       s.dataDir,
		PidFile:       filepath.Join(s.dir, "prosody.pid"),
		LogFile:       logPath,
		LogLevel:      level,
		PluginDir:     s.pluginDir,
		CertDir:       filepath.Dir(s.certFile),
		CertFile:      s.certFile,
		KeyFile:       s.keyFile,
		C2SPort:       s.c2sPort,
		ComponentPort: s.compPort,
		DirectTLSPort: s.tlsPort,
		Domain:        s.opts.Domain,
		Component:     s.opts.Component,
		Secret:        s.opts.ComponentSecret,
		Privileged:    s.opts.Privileged,
	})
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(s.bin, "-F", "--config", cfg)
	cmd.Dir = s.dir
	// Pdeathsig: a test binary that dies (a panic skips the cleanups of
	// parent tests) must not leave Prosody holding its ports.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	proc, err := testserver.Start(cmd, outPath)
	if err != nil {
		tb.Fatalf("prosodytest: %v", err)
	}
	s.mu.Lock()
	s.proc = proc
	s.mu.Unlock()

	ready := func() error { return s.probe(time.Second) }
	if err := proc.WaitReady(readyTimeout, ready); err != nil {
		s.Stop()
		tb.Fatalf("prosodytest: %v\n--- prosody output ---\n%s\n--- prosody log tail ---\n%s",
			err, testserver.Tail(outPath, 20), testserver.Tail(logPath, 40))
	}
}
