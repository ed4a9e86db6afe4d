package testserver

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		n    int
		want string
	}{
		{"last two", path, 2, "two\nthree"},
		{"more than there are", path, 10, "one\ntwo\nthree"},
		{"negative is all", path, -1, "one\ntwo\nthree"},
		{"zero", path, 0, ""},
		{"missing file", filepath.Join(dir, "nope"), 5, "(no log: open " + filepath.Join(dir, "nope") + ": no such file or directory)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Tail(tt.path, tt.n)); diff != "" {
				t.Errorf("Tail(%d) mismatch (-want +got):\n%s", tt.n, diff)
			}
		})
	}
}

func TestFreePort(t *testing.T) {
	port := FreePort(t)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen on FreePort's %d: %v", port, err)
	}
	l.Close()
}

// startSh starts sh -c script as a Process logging to a file in t's temp
// dir and stops it when the test ends.
func startSh(t *testing.T, script string) (*Process, string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "out.log")
	p, err := Start(exec.Command("/bin/sh", "-c", script), logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(syscall.SIGKILL, time.Second) })
	return p, logPath
}

func TestStartLogsOutput(t *testing.T) {
	p, logPath := startSh(t, "echo out; echo err >&2")
	<-p.done
	if diff := cmp.Diff("out\nerr", Tail(logPath, -1)); diff != "" {
		t.Errorf("log mismatch (-want +got):\n%s", diff)
	}
}

func TestStartKeepsSysProcAttr(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "exit 0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p, err := Start(cmd, filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGKILL, time.Second)
	got := *cmd.SysProcAttr
	want := syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SysProcAttr mismatch (-want +got):\n%s", diff)
	}
}

func TestStartMissingBinary(t *testing.T) {
	_, err := Start(exec.Command("/nonexistent/server"), filepath.Join(t.TempDir(), "log"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Start(missing binary) = %v, want an error wrapping os.ErrNotExist", err)
	}
}

func TestWaitReady(t *testing.T) {
	errProbe := errors.New("not yet")
	tests := []struct {
		name    string
		script  string
		timeout time.Duration
		failFor int // probe calls that fail before it succeeds; -1 fails always
		want    string
	}{
		{"ready at once", "sleep 60", time.Minute, 0, ""},
		{"ready after three probes", "sleep 60", time.Minute, 3, ""},
		{"timeout", "sleep 60", 0, -1, "not ready after 0s: not yet"},
		{"exit", "exit 3", time.Minute, -1, "sh exited during startup: exit status 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := startSh(t, tt.script)
			calls := 0
			probe := func() error {
				calls++
				if tt.failFor < 0 || calls <= tt.failFor {
					return errProbe
				}
				return nil
			}
			got := ""
			if err := p.WaitReady(tt.timeout, probe); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("WaitReady error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStop(t *testing.T) {
	tests := []struct {
		name   string
		script string
		sig    syscall.Signal
		want   syscall.Signal // what ended the shell
	}{
		{"exits on SIGTERM", "echo started; sleep 60", syscall.SIGTERM, syscall.SIGTERM},
		// The shell ignores SIGTERM and so does its child, which inherits
		// that: only the SIGKILL after the grace ends them.
		{"ignores SIGTERM", "trap '' TERM; echo started; sleep 60", syscall.SIGTERM, syscall.SIGKILL},
		{"SIGKILL", "echo started; sleep 60", syscall.SIGKILL, syscall.SIGKILL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, logPath := startSh(t, tt.script)
			started := func() error {
				if Tail(logPath, 1) != "started" {
					return errors.New("not started")
				}
				return nil
			}
			if err := p.WaitReady(time.Minute, started); err != nil {
				t.Fatal(err)
			}
			p.Stop(tt.sig, 10*time.Millisecond)
			select {
			case <-p.done:
			default:
				t.Fatal("process still running after Stop")
			}
			got := p.cmd.ProcessState.Sys().(syscall.WaitStatus).Signal()
			if got != tt.want {
				t.Errorf("process ended by %v, want %v", got, tt.want)
			}
			p.Stop(tt.sig, 10*time.Millisecond) // idempotent: returns at once
		})
	}
}

func TestSelfSigned(t *testing.T) {
	c, err := SelfSigned("example.com", "presence.example.com", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"example.com", "presence.example.com", "localhost", "127.0.0.1"} {
		opts := x509.VerifyOptions{DNSName: name, Roots: c.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := c.Cert.Verify(opts); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if diff := cmp.Diff("example.com", c.Cert.Subject.CommonName); diff != "" {
		t.Errorf("common name mismatch (-want +got):\n%s", diff)
	}
	if _, err := SelfSigned(); err == nil {
		t.Error("SelfSigned() without names succeeded")
	}
}

func TestIssueChain(t *testing.T) {
	ca, err := Issue(&x509.Certificate{IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := Issue(&x509.Certificate{DNSNames: []string{"sip.example.com"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}, ca)
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := leaf.Cert.Verify(opts); err != nil {
		t.Errorf("leaf does not verify against its CA: %v", err)
	}
	if ca.Cert.SerialNumber.Sign() <= 0 || leaf.Cert.SerialNumber.Cmp(ca.Cert.SerialNumber) == 0 {
		t.Errorf("serials %v and %v: want distinct random positive serials", ca.Cert.SerialNumber, leaf.Cert.SerialNumber)
	}
}

func TestWriteFiles(t *testing.T) {
	c, err := SelfSigned("example.com")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := c.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("load written pair: %v", err)
	}
	if diff := cmp.Diff(c.Cert.Raw, pair.Certificate[0]); diff != "" {
		t.Errorf("certificate mismatch (-want +got):\n%s", diff)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("key file holds %v, want one PKCS#8 PRIVATE KEY block", b)
	}
	modes := map[string]os.FileMode{}
	for _, f := range []string{certFile, keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		modes[filepath.Base(f)] = fi.Mode().Perm()
	}
	if diff := cmp.Diff(map[string]os.FileMode{"c.pem": 0o644, "k.pem": 0o600}, modes); diff != "" {
		t.Errorf("file modes mismatch (-want +got):\n%s", diff)
	}
}

func TestCallJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/garbage" {
			w.Write([]byte("not json"))
			return
		}
		var in map[string]string
		_ = json.NewDecoder(r.Body).Decode(&in)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"auth": r.Header.Get("Authorization"), "type": r.Header.Get("Content-Type"), "echo": in["x"]})
	}))
	defer srv.Close()
	var out map[string]string
	code, err := CallJSON(srv.Client(), "POST", srv.URL+"/", "tok", map[string]string{"x": "y"}, &out)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("CallJSON = %d, %v", code, err)
	}
	if want := map[string]string{"auth": "Bearer tok", "type": "application/json", "echo": "y"}; !cmp.Equal(out, want) {
		t.Errorf("server saw %v, want %v", out, want)
	}
	if code, err := CallJSON(srv.Client(), "GET", srv.URL+"/garbage", "", nil, &out); err == nil || code != http.StatusOK {
		t.Errorf("an undecodable answer = %d, %v; want 200 and an error", code, err)
	}
	if code, err := CallJSON(srv.Client(), "GET", "http://127.0.0.1:1/", "", nil, nil); err == nil || code != 0 {
		t.Errorf("no server = %d, %v; want 0 and an error", code, err)
	}
}
