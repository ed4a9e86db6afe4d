package loadgen

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// fdHeadroom is the file descriptors an idle run needs beside its
// streams: the admin and metrics calls, the standard files, the runtime.
const fdHeadroom = 100

// portRangeFile holds Linux's ephemeral port range, "LOW\tHIGH".
const portRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// hostLimits are the limits of this machine that bound an idle run.
type hostLimits struct {
	// NoFile and NoFileMax are the RLIMIT_NOFILE soft limit (after raising
	// it) and hard limit; 0 means unknown.
	NoFile, NoFileMax uint64
	// NoFileErr is why the limit could not be read or raised, if it could
	// not.
	NoFileErr error
	// Ports is the size of the local port range, the most connections one
	// source address can open to one target; 0 means unknown.
	Ports int
}

// readHostLimits raises the RLIMIT_NOFILE soft limit to the hard limit
// and reads both, and the local port range.
func readHostLimits() hostLimits {
	l := raiseNoFile()
	l.Ports = readPortRange(portRangeFile)
	return l
}

// readPortRange returns the size of the port range in file, or 0 when it
// cannot be read (not Linux).
func readPortRange(file string) int {
	raw, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw))
	if len(f) != 2 {
		return 0
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 0
	}
	return hi - lo + 1
}

// checkHostLimits lists why this machine cannot hold n connections from
// sources source addresses: too few file descriptors, or too few local
// ports per source.
func checkHostLimits(n, sources int, l hostLimits) []error {
	var ps []error
	need := uint64(n) + fdHeadroom
	switch {
	case l.NoFileErr != nil:
		ps = append(ps, fmt.Errorf("--connections: cannot check the open-file limit (RLIMIT_NOFILE): %w", l.NoFileErr))
	case l.NoFile > 0 && need > l.NoFile:
		ps = append(ps, fmt.Errorf("--connections: %d connections need %d open files, more than this process's limit of %d (RLIMIT_NOFILE, hard limit %d): raise it with `ulimit -n %d` (the hard limit as root, or in /etc/security/limits.conf) in the shell that runs presenced bench, and the server's as well",
			n, need, l.NoFile, l.NoFileMax, suggestedNoFile(need)))
	}
	if per := (n + sources - 1) / max(sources, 1); l.Ports > 0 && per > l.Ports {
		ps = append(ps, fmt.Errorf("--sources: %d connections from %d source address(es) are %d per address, more than the %d local ports of net.ipv4.ip_local_port_range: give at least %d loopback addresses, e.g. --sources 127.0.0.1-127.0.0.%d",
			n, sources, per, l.Ports, (n+l.Ports-1)/l.Ports, min((n+l.Ports-1)/l.Ports, 254)))
	}
	return ps
}

// suggestedNoFile rounds need up to a round figure for the advice.
func suggestedNoFile(need uint64) uint64 {
	const step = 10_000
	return (need + step - 1) / step * step
}
