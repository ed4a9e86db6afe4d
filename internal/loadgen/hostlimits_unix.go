//go:build unix

package loadgen

import (
	"fmt"
	"syscall"
)

// raiseNoFile raises the RLIMIT_NOFILE soft limit to the hard limit (each
// stream is one descriptor) and returns both. When raising fails the
// current soft limit stands.
func raiseNoFile() hostLimits {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return hostLimits{NoFileErr: fmt.Errorf("getrlimit: %w", err)}
	}
	if rl.Cur < rl.Max {
		raised := rl
		raised.Cur = raised.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			rl = raised
		}
	}
	return hostLimits{NoFile: uint64(rl.Cur), NoFileMax: uint64(rl.Max)} // int64 on some BSDs
}
