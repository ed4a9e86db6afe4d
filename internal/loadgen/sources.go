package loadgen

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// maxSources bounds --sources: 1024 addresses hold far more connections
// than maxConnections.
const maxSources = 1024

// parseSources parses --sources: a comma-separated list whose entries are
// loopback addresses or ranges FIRST-LAST of IPv4 loopback addresses, in
// the order given. Every address must be a loopback address and appear
// once: the tool only ever connects from this machine to itself.
func parseSources(s string) ([]netip.Addr, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("required: one or more loopback addresses, e.g. 127.0.0.1-127.0.0.8")
	}
	var addrs []netip.Addr
	seen := map[netip.Addr]bool{}
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("empty entry in %q", s)
		}
		list, err := parseSourceEntry(entry)
		if err != nil {
			return nil, err
		}
		for _, a := range list {
			if seen[a] {
				return nil, fmt.Errorf("%s is given twice", a)
			}
			seen[a] = true
			addrs = append(addrs, a)
			if len(addrs) > maxSources {
				return nil, fmt.Errorf("more than %d addresses", maxSources)
			}
		}
	}
	return addrs, nil
}

// parseSourceEntry parses one entry of --sources: an address or a range.
func parseSourceEntry(entry string) ([]netip.Addr, error) {
	first, last, isRange := strings.Cut(entry, "-")
	lo, err := parseSourceAddr(first)
	if err != nil || !isRange {
		return []netip.Addr{lo}, err
	}
	hi, err := parseSourceAddr(last)
	if err != nil {
		return nil, err
	}
	switch {
	case !lo.Is4() || !hi.Is4():
		return nil, fmt.Errorf("range %s: ranges are of IPv4 addresses (the only IPv6 loopback address is ::1)", entry)
	case hi.Less(lo):
		return nil, fmt.Errorf("range %s ends before it starts", entry)
	}
	var list []netip.Addr
	for a := lo; ; a = a.Next() {
		list = append(list, a)
		if a == hi {
			return list, nil
		}
		if len(list) == maxSources {
			return nil, fmt.Errorf("range %s: more than %d addresses", entry, maxSources)
		}
	}
}

// parseSourceAddr parses one source address and checks it is loopback.
func parseSourceAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", strings.TrimSpace(s))
	}
	a = a.Unmap()
	switch {
	case a.Zone() != "":
		return netip.Addr{}, fmt.Errorf("%s: no zone, please", a)
	case !a.IsLoopback():
		return netip.Addr{}, fmt.Errorf("%s is not a loopback address: connections leave only from 127.0.0.0/8 or ::1", a)
	}
	return a, nil
}

// loopbackTarget checks that the idle scenario's --target is on this
// machine (the sources are loopback addresses, which reach nothing else)
// and returns its address, or the zero Addr for "localhost".
func loopbackTarget(u *url.URL) (netip.Addr, error) {
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(host)
	if err == nil && a.Unmap().IsLoopback() && a.Zone() == "" {
		return a.Unmap(), nil
	}
	return netip.Addr{}, fmt.Errorf("idle connects from loopback --sources, so the target must be a loopback address (127.0.0.0/8, [::1] or localhost), got %q", host)
}
