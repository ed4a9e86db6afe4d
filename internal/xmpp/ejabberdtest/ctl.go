package ejabberdtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ctlTimeout bounds one ejabberd_ctl or batch call.
const ctlTimeout = time.Minute

// clientSeq numbers the hidden client nodes of this process: a node
// refuses a second connection from a name already connected, so
// concurrent calls need distinct names.
var clientSeq atomic.Int64

// Ctl runs an ejabberdctl command against the instance, for example
// Ctl(tb, "registered_users", s.Domain()), and returns its output without
// the trailing newline. It calls tb.Fatal if the command fails (a non-zero
// exit status: 1 for a command error such as a conflict, 2 or 3 for an
// unknown command or wrong arguments). One call takes about 0.2 seconds,
// most of it starting the client VM.
func (s *Server) Ctl(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := s.RunCtl(args...)
	if err != nil {
		tb.Fatalf("ejabberdtest: %v", err)
	}
	return out
}

// RunCtl is Ctl returning the error instead of failing the test; the error
// includes the command's output.
func (s *Server) RunCtl(args ...string) (string, error) {
	ctlArgs := append([]string{"-s", "ejabberd_ctl", "-extra", s.node}, args...)
	out, err := s.runClient(ctlArgs...)
	if err != nil {
		return out, fmt.Errorf("ejabberdctl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// AddUser registers user@Domain with password through
// ejabberdctl register. It calls tb.Fatal if the user exists or the call
// fails.
func (s *Server) AddUser(tb testing.TB, user, password string) {
	tb.Helper()
	s.Ctl(tb, "register", user, s.opts.Domain, password)
}

// AddUsers registers every user@Domain of users (user -> password) with
// one client VM, which calls ejabberd_auth:try_register (what ejabberdctl
// register does) on the node for each user in turn. It takes about 0.2
// seconds plus under a millisecond per user, where AddUser takes 0.2
// seconds per user. It calls tb.Fatal listing the users that could not be
// registered (for example because they exist).
func (s *Server) AddUsers(tb testing.TB, users map[string]string) {
	tb.Helper()
	if len(users) == 0 {
		return
	}
	f, err := os.CreateTemp(s.baseDir, "users-*.term")
	if err != nil {
		tb.Fatalf("ejabberdtest: users file: %v", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(usersTerm(users))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("ejabberdtest: write users file: %v", err)
	}
	// The paths hold no quote or backslash (see prepare).
	expr := fmt.Sprintf(`{ok, [Users]} = file:consult("%s"),
R = [{U, rpc:call('%s', ejabberd_auth, try_register, [U, %s, P], 30000)} || {U, P} <- Users],
case [X || {_, V} = X <- R, V =/= ok] of
  [] -> halt(0);
  Bad -> io:format("~p~n", [Bad]), halt(1)
end.`, filepath.ToSlash(f.Name()), s.node, erlBinary(s.opts.Domain))
	if out, err := s.runClient("-eval", expr); err != nil {
		tb.Fatalf("ejabberdtest: register %d users: %v: %s", len(users), err, out)
	}
}

// runClient runs a hidden erl client node that reaches the instance
// directly on its dist port, with args appended, and returns its output.
func (s *Server) runClient(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	name := fmt.Sprintf("ejabberdtestctl%d-%d@localhost", s.distPort, clientSeq.Add(1))
	argv := append([]string{
		"-sname", name, "-hidden", "-noinput",
		"-dist_listen", "false",
		"-erl_epmd_port", fmt.Sprint(s.distPort), "-start_epmd", "false",
	}, args...)
	cmd := exec.CommandContext(ctx, s.erl, argv...)
	cmd.Dir = s.baseDir
	cmd.Env = s.env("ERL_CRASH_DUMP_BYTES=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return strings.TrimRight(out.String(), "\n"), err
}

// usersTerm renders users as one Erlang term for file:consult, a list of
// {User, Password} binaries sorted by user, written as byte values so that
// no character needs escaping.
func usersTerm(users map[string]string) []byte {
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	var b bytes.Buffer
	b.WriteString("[")
	for i, u := range names {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "{%s,%s}", erlBinary(u), erlBinary(users[u]))
	}
	b.WriteString("].\n")
	return b.Bytes()
}

// erlBinary returns s as an Erlang binary literal of byte values, for
// example <<104,105>> for "hi".
func erlBinary(s string) string {
	var b strings.Builder
	b.WriteString("<<")
	for i := 0; i < len(s); i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, s[i])
	}
	b.WriteString(">>")
	return b.String()
}
