//go:build !unix

package loadgen

// raiseNoFile reports the open-file limit unknown: this system has no
// RLIMIT_NOFILE.
func raiseNoFile() hostLimits { return hostLimits{} }
