// Package testserver holds what the real-server test harnesses
// (kamailiotest, prosodytest, ejabberdtest) share: running a server as a
// child process in its own process group (Process), picking loopback ports
// (FreePort), reading the end of a log (Tail) and making throwaway
// certificates (Issue, SelfSigned).
//
// What differs between servers, such as configuration, readiness probes,
// signals and grace periods, stays in each harness and is passed in.
package testserver

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
)

// FreePort returns a loopback TCP port that was free a moment ago, or calls
// tb.Fatal. The port is released before returning, so another process could
// take it first, which is unlikely on a test machine.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testserver: pick port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Tail returns the last n lines of the file at path (all of them when n is
// negative), or a note saying why the file could not be read. It is meant
// for test failure messages, so it never fails.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if n >= 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
