// Package ejabberdtest runs a real ejabberd XMPP server on loopback for
// integration tests.
//
// Start renders a minimal ejabberd configuration (one virtual host, a c2s
// listener with STARTTLS required, one XEP-0114 component listener with
// global_routes: false, internal auth in Mnesia, optionally mod_privilege)
// into a temporary directory, runs ejabberd in the foreground as a child
// process in its own process group, waits until the c2s port offers
// STARTTLS and ejabberd_ctl reports the node started, and kills it when the
// test ends.
//
// ejabberd comes from the Debian package ejabberd (23.01 on Debian 12). A
// missing ejabberd fails the test; it never skips, so a machine without the
// package cannot silently pass.
//
// # How the node is run
//
// ejabberd is an Erlang node. Each Server is its own node,
// ejabberdtest<DISTPORT>@localhost, with its own cookie (HOME points at a
// temporary directory holding .erlang.cookie), spool (Mnesia), log
// directory and configuration. It runs without epmd: erl gets
// -erl_epmd_port DISTPORT -start_epmd false (what Debian's ejabberdctl does
// when ERL_DIST_PORT is set), so the node listens for distribution on
// DISTPORT and clients connect there directly. ERL_EPMD_PORT names a port
// nothing listens on, so the node does not register with a machine-wide
// epmd either (RabbitMQ's, say); a failed registration is ignored by nodes
// started with -erl_epmd_port.
//
// Start runs erl itself, with the arguments ejabberdctl foreground would
// pass, rather than the ejabberdctl script: as root the script re-executes
// itself as the ejabberd user (who cannot read the test's temporary
// directories and has another cookie), and it refuses other users outright.
// Server.Ctl likewise runs ejabberd_ctl the way the script does:
//
//	HOME=DIR/home ERL_LIBS=/usr/lib/x86_64-linux-gnu erl -sname ctlN@localhost \
//	  -hidden -noinput -dist_listen false -erl_epmd_port DISTPORT -start_epmd false \
//	  -s ejabberd_ctl -extra NODE COMMAND ARGS...
//
// ejabberd 23.01 behaviour worth knowing when writing tests against it:
//   - A component receives the XEP-0356 advertisement in a message from the
//     virtual host, namespace urn:xmpp:privilege:1, a moment after the
//     handshake; privileged requests sent before it are refused.
//   - On an idle machine a fresh start takes about 3.5 seconds (Mnesia
//     creates its tables), a start on an existing spool about 0.5 seconds,
//     and a clean stop 1 to 3.5 seconds after SIGTERM, nearly all of it the
//     VM halting after every application has stopped. The test's cleanup
//     therefore kills the node instead.
package ejabberdtest

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

// DefaultDomain is the XMPP virtual host served when Options.Domain is
// empty.
const DefaultDomain = "example.com"

// DefaultComponent is the component address when Options.Component is
// empty.
const DefaultComponent = "presence.example.com"

// readyTimeout bounds the wait for a started ejabberd to become ready.
const readyTimeout = 30 * time.Second

// stopGrace is how long Stop waits after SIGTERM before sending SIGKILL.
// ejabberd 23.01 needs about 2.5 seconds to halt.
const stopGrace = 15 * time.Second

// Options configures a test ejabberd. The zero value serves DefaultDomain
// with an unprivileged component DefaultComponent and a random secret.
type Options struct {
	// Domain is the virtual host (default DefaultDomain).
	Domain string
	// Component is the address of the XEP-0114 component allowed on the
	// component listener (default DefaultComponent).
	Component string
	// Secret is the component's handshake secret (default 16 random
	// bytes, hex-encoded).
	Secret string
	// Privileged loads mod_privilege (XEP-0356) granting Component roster
	// both, message outgoing, and presence managed_entity and roster.
	Privileged bool
	// Verbose raises ejabberd's log level from info to debug.
	Verbose bool
}

// Server is a running test ejabberd. Its methods are safe for concurrent
// use.
type Server struct {
	erl      string
	erlLibs  string
	baseDir  string // config, cert, home and spool; kept across restarts
	opts     Options
	node     string
	distPort int
	c2sPort  int
	compPort int
	certFile string
	pool     *x509.CertPool

	// mu guards the fields below.
	mu   sync.Mutex
	run  int                 // number of the current or last run, from 1
	proc *testserver.Process // current process, nil when stopped
	log  string              // console log of the current or last run
}

// Start runs an ejabberd on loopback and kills it when tb's test ends. It
// calls tb.Fatal if ejabberd is not installed, cannot start, or is not
// ready within 30 seconds.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	if opts.Component == "" {
		opts.Component = DefaultComponent
	}
	if opts.Secret == "" {
		opts.Secret = randomHex(16)
	}
	erl, erlLibs, err := findEjabberd()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{erl: erl, erlLibs: erlLibs, baseDir: tb.TempDir(), opts: opts}
	s.distPort = testserver.FreePort(tb)
	s.c2sPort = testserver.FreePort(tb)
	s.compPort = testserver.FreePort(tb)
	// The dist port is held by the running node, so the name is unique
	// among live instances; Mnesia ties the spool to it, so it must stay
	// the same across restarts, as the ports do.
	s.node = fmt.Sprintf("ejabberdtest%d@localhost", s.distPort)
	if err := s.prepare(); err != nil {
		tb.Fatal(err)
	}
	// The spool is thrown away, so there is nothing to stop gracefully.
	tb.Cleanup(s.kill)
	s.start(tb)
	return s
}

// C2SAddr returns the host:port of the client-to-server listener, which
// requires STARTTLS with the certificate in CertFile.
func (s *Server) C2SAddr() string { return fmt.Sprintf("127.0.0.1:%d", s.c2sPort) }

// ComponentAddr returns the host:port of the XEP-0114 component listener.
func (s *Server) ComponentAddr() string { return fmt.Sprintf("127.0.0.1:%d", s.compPort) }

// Domain returns the virtual host ejabberd serves.
func (s *Server) Domain() string { return s.opts.Domain }

// Component returns the component address accepted on ComponentAddr.
func (s *Server) Component() string { return s.opts.Component }

// Secret returns the component's handshake secret.
func (s *Server) Secret() string { return s.opts.Secret }

// Node returns the Erlang node name, for example
// ejabberdtest40123@localhost.
func (s *Server) Node() string { return s.node }

// CertFile returns the PEM file (private key, then a self-signed
// certificate for Domain, Component, localhost and 127.0.0.1) ejabberd
// serves on STARTTLS.
func (s *Server) CertFile() string { return s.certFile }

// CertPool returns a pool holding the certificate of CertFile, for a
// client's tls.Config.RootCAs.
func (s *Server) CertPool() *x509.CertPool { return s.pool.Clone() }

// Dir returns the directory holding the rendered ejabberd.yml, the
// certificate, the spool and one runN directory of logs per run.
func (s *Server) Dir() string { return s.baseDir }

// LogTail returns the last n lines of the current run's console log (every
// ejabberd log line, and Erlang's own start-up errors).
func (s *Server) LogTail(n int) string {
	s.mu.Lock()
	path := s.log
	s.mu.Unlock()
	return testserver.Tail(path, n)
}

// Restart stops ejabberd gracefully and starts it again on the same ports
// with the same spool: users and rosters survive, sessions and component
// connections do not.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	s.start(tb)
}

// Stop stops ejabberd (SIGTERM to its process group, which makes the node
// shut down cleanly and close Mnesia; SIGKILL after 15 seconds) and waits
// for it. It is idempotent.
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

// kill stops ejabberd at once with SIGKILL.
func (s *Server) kill() { s.stop(syscall.SIGKILL) }

// stop sends sig to the process group and waits for the process, sending
// SIGKILL after stopGrace. Port programs (os_mon's memsup) must not outlive
// the node, and testserver.Process.Stop sees to that.
func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	proc := s.proc
	s.proc = nil
	s.mu.Unlock()
	if proc != nil {
		proc.Stop(sig, stopGrace)
	}
}

// start launches a new run of ejabberd and waits until it is ready.
func (s *Server) start(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	s.run++
	runDir := filepath.Join(s.baseDir, fmt.Sprintf("run%d", s.run))
	s.log = filepath.Join(runDir, "console.log")
	logPath := s.log
	s.mu.Unlock()

	if err := os.MkdirAll(runDir, 0o755); err != nil {
		tb.Fatalf("ejabberdtest: create run dir: %v", err)
	}
	cmd := exec.Command(s.erl, s.serverArgs()...)
	cmd.Dir = s.spoolDir()
	cmd.Env = s.env(
		"EJABBERD_CONFIG_PATH="+s.configFile(),
		"EJABBERD_LOG_PATH="+filepath.Join(runDir, "ejabberd.log"),
		"ERL_CRASH_DUMP="+filepath.Join(runDir, "erl_crash.dump"),
	)
	// Pdeathsig (kept across exec, so it reaches beam.smp) kills the node
	// if the test binary dies before its cleanup runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	proc, err := testserver.Start(cmd, logPath)
	if err != nil {
		tb.Fatalf("ejabberdtest: %v", err)
	}
	s.mu.Lock()
	s.proc = proc
	s.mu.Unlock()

	if err := proc.WaitReady(readyTimeout, s.ready); err != nil {
		s.kill()
		tb.Fatalf("ejabberdtest: %v\n--- ejabberd log tail ---\n%s", err, s.LogTail(40))
	}
}

// serverArgs are erl's arguments for the node, as ejabberdctl foreground
// builds them with ERL_DIST_PORT set, plus a loopback-only dist listener.
func (s *Server) serverArgs() []string {
	return []string{
		"-sname", s.node,
		"+K", "true", "+P", "250000",
		"-erl_epmd_port", fmt.Sprint(s.distPort), "-start_epmd", "false",
		"-kernel", "inet_dist_use_interface", "{127,0,0,1}",
		"-env", "ERL_CRASH_DUMP_BYTES", "0",
		"-mnesia", "dir", fmt.Sprintf("%q", s.spoolDir()),
		"-s", "ejabberd",
		"-noinput",
	}
}

// ready reports whether the c2s listener offers STARTTLS and ejabberd_ctl
// reports the node started.
func (s *Server) ready() error {
	if err := probeC2S(s.C2SAddr(), s.opts.Domain, time.Second); err != nil {
		return err
	}
	return s.checkStarted()
}

// checkStarted runs ejabberd_ctl status and checks that it reports the
// node started.
func (s *Server) checkStarted() error {
	out, err := s.RunCtl("status")
	if err != nil {
		return err
	}
	if !strings.Contains(out, "status: started") {
		return fmt.Errorf("ejabberdctl status: %s", out)
	}
	return nil
}
