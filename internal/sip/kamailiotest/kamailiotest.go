// Package kamailiotest runs a real Kamailio SIP SIMPLE presence server on
// loopback for integration tests.
//
// Start renders a minimal Kamailio configuration (presence, presence_xml with
// force_active, db_text state) into a temporary directory, runs Kamailio in
// the foreground as a child process in its own process group, waits until it
// answers an OPTIONS request over TCP, and stops it when the test ends.
//
// Kamailio comes from the Debian packages kamailio and
// kamailio-presence-modules (kamailio-tls-modules for Options.TLS). A missing
// Kamailio fails the test; it never skips, so a machine without the packages
// cannot silently pass.
//
// Kamailio 5.6 behaviour worth knowing when writing tests against it:
//   - SUBSCRIBE is answered 200 (presence subs_respond_200 defaults to 1,
//     RFC 6665), not 202, with no Record-Route and a Contact of
//     sip:127.0.0.1:PORT;transport=tcp; the first NOTIFY follows the 200.
//   - An un-SUBSCRIBE (Expires: 0) gets a final NOTIFY with
//     Subscription-State: terminated;reason=timeout and the last state.
//   - NOTIFYs go to the watcher's Contact; when the Contact names the source
//     address of the watcher's TCP connection, Kamailio reuses that connection.
//   - A PUBLISH whose SIP-If-Match names an unknown entity tag gets 500, not
//     RFC 3903's 412.
//   - State lives in db_text files inside the run directory; Restart starts
//     from empty tables, so refreshes of old dialogs get 481.
package kamailiotest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/testserver"
)

// DefaultDomain is the SIP domain served when Options.Domain is empty.
const DefaultDomain = "example.com"

// DefaultMaxExpires is the presence max_expires used when
// Options.MaxExpires is zero.
const DefaultMaxExpires = 600

// readyTimeout bounds the wait for a started Kamailio to answer OPTIONS.
const readyTimeout = 15 * time.Second

// stopGrace is how long Stop waits after SIGTERM before sending SIGKILL.
const stopGrace = 5 * time.Second

// Options configures a test Kamailio. The zero value is a plain TCP/UDP
// presence server for DefaultDomain.
type Options struct {
	// Domain is the SIP domain Kamailio serves (default DefaultDomain).
	// PUBLISH and SUBSCRIBE for other domains get 404.
	Domain string
	// MaxExpires caps PUBLISH and SUBSCRIBE Expires, in seconds (default
	// DefaultMaxExpires). min_expires is 0, so tests may use Expires of a
	// few seconds.
	MaxExpires int
	// Verbose raises Kamailio's log level from info to debug.
	Verbose bool

	// TLS adds a TLS listener on a second loopback port (see
	// Server.TLSAddr), using the tls module from kamailio-tls-modules.
	TLS bool
	// TLSCertFile and TLSKeyFile are the PEM server certificate (chain)
	// and private key; both are required when TLS is set.
	TLSCertFile string
	// TLSKeyFile is the PEM private key for TLSCertFile.
	TLSKeyFile string
	// TLSCAFile is a PEM CA bundle used to verify client certificates.
	TLSCAFile string
	// TLSVerifyClient makes Kamailio verify a presented client
	// certificate against TLSCAFile.
	TLSVerifyClient bool
	// TLSRequireClient makes Kamailio refuse clients without a
	// certificate (with TLSVerifyClient, without a valid one).
	TLSRequireClient bool

	// Auth, when not empty, makes Kamailio challenge every SUBSCRIBE and
	// PUBLISH, in a dialog or not, for digest credentials (qop=auth) of
	// these users (user part -> password) of Domain. The identity of the
	// request need not be the authenticated user (a trusted application
	// publishes for its users).
	Auth map[string]string
	// Authorize turns presence_xml's force_active off: a watcher needs
	// the presentity's authorisation (XCAP rules, none here), so new
	// subscriptions stay pending.
	Authorize bool
	// RedirectTo makes the instance a Director: every SUBSCRIBE and
	// PUBLISH outside a dialog is answered 302 with
	// Contact: <sip:USER@RedirectTo;transport=RedirectTransport>, where
	// USER is the Request-URI's user. RedirectTransport is tcp (default)
	// or tls.
	RedirectTo        string
	RedirectTransport string
}

// Server is a running test Kamailio. Its methods are safe for concurrent use.
type Server struct {
	bin     string
	modDir  string
	baseDir string
	rtDir   string // short runtime dir: unix socket paths are limited to 108 bytes
	domain  string
	port    int
	tlsPort int
	opts    Options

	// mu guards the fields below.
	mu   sync.Mutex
	run  int                 // number of the current or last run, from 1
	proc *testserver.Process // current process, nil when stopped
	log  string              // log file of the current or last run
}

// Start runs a Kamailio presence server on loopback and stops it when tb's
// test ends. It calls tb.Fatal if Kamailio is not installed, cannot start, or
// does not answer an OPTIONS request within 15 seconds.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	if opts.MaxExpires == 0 {
		opts.MaxExpires = DefaultMaxExpires
	}
	if opts.TLS && (opts.TLSCertFile == "" || opts.TLSKeyFile == "") {
		tb.Fatal("kamailiotest: Options.TLS needs TLSCertFile and TLSKeyFile")
	}
	bin, modDir, err := findKamailio(opts.TLS)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{
		bin:     bin,
		modDir:  modDir,
		baseDir: tb.TempDir(),
		domain:  opts.Domain,
		opts:    opts,
	}
	if s.rtDir, err = os.MkdirTemp("", "kamailiotest"); err != nil {
		tb.Fatalf("kamailiotest: runtime dir: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(s.rtDir) }) // runs after Stop
	if s.port, err = freeTCPUDPPort(); err != nil {
		tb.Fatal(err)
	}
	if opts.TLS {
		s.tlsPort = testserver.FreePort(tb)
	}
	tb.Cleanup(s.Stop)
	s.start(tb)
	return s
}

// Addr returns the host:port of Kamailio's TCP (and UDP) listener.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// TLSAddr returns the host:port of the TLS listener, or "" without
// Options.TLS.
func (s *Server) TLSAddr() string {
	if s.tlsPort == 0 {
		return ""
	}
	return fmt.Sprintf("127.0.0.1:%d", s.tlsPort)
}

// Domain returns the SIP domain Kamailio serves.
func (s *Server) Domain() string { return s.domain }

// Dir returns the directory of the current run: the rendered config,
// db_text tables and kamailio.log.
func (s *Server) Dir() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runDirLocked()
}

// LogTail returns the last n lines of the current run's Kamailio log.
func (s *Server) LogTail(n int) string {
	s.mu.Lock()
	path := s.log
	s.mu.Unlock()
	return testserver.Tail(path, n)
}

// SetBusy makes Kamailio answer every SUBSCRIBE and PUBLISH with 503 and
// Retry-After: 1 while on (through its control socket and kamcmd).
func (s *Server) SetBusy(tb testing.TB, on bool) {
	tb.Helper()
	v := "0"
	if on {
		v = "1"
	}
	s.mu.Lock()
	ctl := filepath.Join(s.rtDir, fmt.Sprintf("ctl%d", s.run))
	s.mu.Unlock()
	out, err := exec.Command(kamcmd, "-s", "unix:"+ctl, "pv.shvSet", "busy", "int", v).CombinedOutput()
	if err != nil {
		tb.Fatalf("kamailiotest: kamcmd pv.shvSet busy %s: %v: %s", v, err, out)
	}
}

// kamcmd is Kamailio's RPC client (Debian package kamailio).
const kamcmd = "/usr/sbin/kamcmd"

// Restart stops Kamailio and starts it again on the same ports with empty
// presence state, as after a crash: existing dialogs are unknown to it.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	s.start(tb)
}

// Stop stops Kamailio (SIGTERM to its process group, SIGKILL after a few
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

// start renders a fresh run directory, launches Kamailio and waits until it
// answers OPTIONS.
func (s *Server) start(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	s.run++
	run, dir := s.run, s.runDirLocked()
	s.log = filepath.Join(dir, "kamailio.log")
	logPath := s.log
	s.mu.Unlock()

	cfg, err := s.render(dir, run)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(s.bin, "-DD", "-E", "-Y", s.rtDir, "-f", cfg)
	cmd.Dir = dir
	proc, err := testserver.Start(cmd, logPath)
	if err != nil {
		tb.Fatalf("kamailiotest: %v", err)
	}
	s.mu.Lock()
	s.proc = proc
	s.mu.Unlock()

	ready := func() error { return ping(s.Addr(), time.Second) }
	if err := proc.WaitReady(readyTimeout, ready); err != nil {
		s.Stop()
		tb.Fatalf("kamailiotest: %v\n--- kamailio log tail ---\n%s", err, s.LogTail(40))
	}
}

// runDirLocked returns the directory of the current run; s.mu must be held.
func (s *Server) runDirLocked() string {
	return filepath.Join(s.baseDir, fmt.Sprintf("run%d", s.run))
}
