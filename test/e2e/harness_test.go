// Package e2e drives the real presenced binary: it is built once per test
// run, started on free loopback ports with a temporary data dir, and used
// over HTTP, WebSocket and SSE exactly as apps and administrators would.
package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/testserver"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "presenced-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "presenced")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/presenced")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building presenced:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback address with a port that was free a moment
// ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// instance is one running presenced process.
type instance struct {
	t       *testing.T
	dataDir string
	config  string // YAML text, may be empty
	env     []string
	client  string // base URL of the client listener
	admin   string // base URL of the admin listener
	http    *http.Client
	// notReady makes start wait for /healthz only: the test expects
	// /readyz to fail.
	notReady bool

	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newInstance prepares (but does not start) presenced with a fresh data
// dir and the given YAML config.
func newInstance(t *testing.T, config string, env ...string) *instance {
	t.Helper()
	return &instance{t: t, dataDir: t.TempDir(), config: config, env: env, http: &http.Client{Timeout: 10 * time.Second}}
}

func (in *instance) configPath() string {
	return filepath.Join(in.dataDir, "..", filepath.Base(in.dataDir)+".yaml")
}

// cli runs a presenced subcommand against the instance's data dir and
// config, returning stdout, stderr and the exit code.
func (in *instance) cli(args ...string) (string, string, int) {
	in.t.Helper()
	if in.config != "" {
		if err := os.WriteFile(in.configPath(), []byte(in.config), 0o600); err != nil {
			in.t.Fatal(err)
		}
		// Flags go before the positional EMAIL: insert at the first flag.
		at := len(args)
		for i, a := range args {
			if strings.HasPrefix(a, "--") {
				at = i
				break
			}
		}
		args = append(append(append([]string{}, args[:at]...), "--config", in.configPath()), args[at:]...)
	}
	return run(in.t, in.env, args...)
}

func run(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// token creates a client token for user.
func (in *instance) token(user string) string {
	in.t.Helper()
	out, errOut, code := in.cli("token", "create", "--data-dir", in.dataDir, user)
	if code != 0 {
		in.t.Fatalf("token create: %d %s", code, errOut)
	}
	return strings.TrimSpace(out)
}

// adminToken creates an admin token.
func (in *instance) adminToken() string {
	in.t.Helper()
	out, errOut, code := in.cli("admin", "token", "create", "--data-dir", in.dataDir)
	if code != 0 {
		in.t.Fatalf("admin token create: %d %s", code, errOut)
	}
	return strings.TrimSpace(out)
}

// start runs presenced serve on fresh ports and waits until it is ready.
func (in *instance) start() {
	in.t.Helper()
	clientAddr, adminAddr := freePort(in.t), freePort(in.t)
	scheme := "http"
	if strings.Contains(in.config, "cert_file") {
		scheme = "https"
	}
	in.client = scheme + "://" + clientAddr
	in.admin = scheme + "://" + adminAddr
	args := []string{"serve", "--listen", clientAddr, "--admin-listen", adminAddr, "--data-dir", in.dataDir}
	if in.config != "" {
		if err := os.WriteFile(in.configPath(), []byte(in.config), 0o600); err != nil {
			in.t.Fatal(err)
		}
		args = append(args, "--config", in.configPath())
	}
	in.cmd = exec.Command(binary, args...)
	in.cmd.Env = append(os.Environ(), in.env...)
	in.logs = &syncBuffer{}
	in.cmd.Stdout, in.cmd.Stderr = in.logs, in.logs
	if err := in.cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	in.done = make(chan error, 1)
	go func() { in.done <- in.cmd.Wait() }()
	in.t.Cleanup(func() { in.stop() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		readyPath := "/readyz"
		if in.notReady {
			readyPath = "/healthz" // the test expects /readyz to fail
		}
		resp, err := in.http.Get(in.admin + readyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-in.done:
			in.done <- err
			in.t.Fatalf("presenced exited during start: %v\n%s", err, in.logs)
		default:
		}
		if time.Now().After(deadline) {
			in.t.Fatalf("presenced not ready: %v\n%s", err, in.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (in *instance) stop() {
	in.t.Helper()
	if in.cmd == nil || in.cmd.Process == nil {
		return
	}
	select {
	case err := <-in.done:
		in.done <- err
		return // already exited
	default:
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-in.done:
		in.done <- err
		if err != nil {
			in.t.Errorf("presenced exited with %v after SIGTERM\n%s", err, in.logs)
		}
	case <-time.After(30 * time.Second):
		_ = in.cmd.Process.Kill()
		in.t.Errorf("presenced did not stop within 30s of SIGTERM\n%s", in.logs)
	}
}

// call makes an HTTP request with a bearer token and a JSON body, decoding
// a JSON answer into out (when not nil). It returns the status code.
func (in *instance) call(method, url, token string, body any, out any) int {
	in.t.Helper()
	code, err := testserver.CallJSON(in.http, method, url, token, body, out)
	if err != nil {
		in.t.Fatal(err)
	}
	return code
}

// metrics returns the admin listener's /metrics text.
func (in *instance) metrics() string {
	in.t.Helper()
	resp, err := in.http.Get(in.admin + "/metrics")
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		in.t.Fatal(err)
	}
	return string(body)
}

// metric returns the value of a sample on the admin listener's
// /metrics (a name, with its labels as exposed), or -1 when there is none.
func (in *instance) metric(name string) float64 {
	in.t.Helper()
	for line := range strings.SplitSeq(in.metrics(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				in.t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	return -1
}

// eventually polls f until it returns true or the deadline passes.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tlsClient is for talking to an instance with a test certificate whose
// CA the test holds in cfg.RootCAs.
func tlsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}
