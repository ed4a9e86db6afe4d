package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestAdminAccountCreate: the first dashboard account is created with the
// CLI, the password from the environment or standard input (never an
// argument); a short password and a name taken in any case are refused,
// and nothing shows the password.
func TestAdminAccountCreate(t *testing.T) {
	dataDir := t.TempDir()
	create := func(name, stdin string, env ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(binary, "admin", "account", "create", "--data-dir", dataDir, name)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), code
	}
	const pw = "correct horse battery"
	if out, errOut, code := create("root-admin", pw+"\n"); code != 0 || !strings.Contains(out, `"root-admin" created`) {
		t.Fatalf("create from stdin: %d %q %q", code, out, errOut)
	}
	if out, errOut, code := create("second", "", "PRESENCED_ADMIN_PASSWORD=another long passphrase"); code != 0 {
		t.Fatalf("create from the environment: %d %q %q", code, out, errOut)
	}
	for _, tt := range []struct{ name, stdin, want string }{
		{"Root-Admin", pw + "\n", "exists already"},
		{"shorty", "short\n", "12"},
	} {
		out, errOut, code := create(tt.name, tt.stdin)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("create %s: %d %q %q, want a failure mentioning %q", tt.name, code, out, errOut, tt.want)
		}
		if strings.Contains(out+errOut, pw) {
			t.Error("the password was printed")
		}
	}
}
