//go:build unix

package loadgen

import (
	"syscall"
	"testing"
)

func TestRaiseNoFile(t *testing.T) {
	l := raiseNoFile()
	if l.NoFileErr != nil {
		t.Skipf("no RLIMIT_NOFILE here: %v", l.NoFileErr)
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if got := (hostLimits{NoFile: uint64(rl.Cur), NoFileMax: uint64(rl.Max)}); got != l || l.NoFile == 0 || l.NoFile > l.NoFileMax {
		t.Errorf("raiseNoFile = %+v; the process's limit is now %+v", l, got)
	}
}
