// Package allowlist decides which contacts may be subscribed, by the domain
// of their email (PRODUCT.md §3):
//
//   - off: every domain is allowed;
//   - on with an empty list: no domain is allowed;
//   - on with domains: only those domains (case-insensitive).
//
// It also parses the administrator's domain input, which may separate
// domains by commas, semicolons, spaces or new lines.
package allowlist

import (
	"fmt"
	"slices"
	"strings"
)

// MaxDomains bounds the size of a list.
const MaxDomains = 10000

// List is an immutable allowlist. The zero value is off (allows all).
type List struct {
	enabled bool
	domains map[string]struct{}
}

// New returns a list; domains must already be normalised (see Parse).
func New(enabled bool, domains []string) List {
	set := make(map[string]struct{}, len(domains))
	for _, d := range domains {
		set[d] = struct{}{}
	}
	return List{enabled: enabled, domains: set}
}

// Enabled reports whether the list restricts domains at all.
func (l List) Enabled() bool { return l.enabled }

// Domains returns the listed domains, sorted.
func (l List) Domains() []string {
	out := make([]string, 0, len(l.domains))
	for d := range l.domains {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Allows reports whether contact (an email) may be subscribed.
func (l List) Allows(contact string) bool {
	if !l.enabled {
		return true
	}
	at := strings.LastIndexByte(contact, '@')
	if at < 0 {
		return false
	}
	d := contact[at+1:]
	if _, ok := l.domains[d]; ok {
		return true
	}
	// Contacts are normally lower-cased already; fall back for safety.
	_, ok := l.domains[strings.ToLower(d)]
	return ok
}

// Parse splits input on commas, semicolons and white space, lower-cases
// each domain, validates it, and returns the unique domains sorted. Every
// invalid domain is reported in the error.
func Parse(input string) ([]string, error) {
	return Normalize([]string{input})
}

// Normalize lower-cases, validates, de-duplicates and sorts domains. Each
// element may itself contain separators (it is passed through Parse's
// splitting), so ["a.com; b.com"] is two domains.
func Normalize(domains []string) ([]string, error) {
	var out, bad []string
	for _, raw := range domains {
		for _, d := range strings.FieldsFunc(raw, isSeparator) {
			d = strings.ToLower(strings.TrimSuffix(d, "."))
			if err := Validate(d); err != nil {
				bad = append(bad, fmt.Sprintf("%q", d))
				continue
			}
			out = append(out, d)
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("invalid domain(s): %s", strings.Join(bad, ", "))
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxDomains {
		return nil, fmt.Errorf("too many domains: %d (max %d)", len(out), MaxDomains)
	}
	return out, nil
}

func isSeparator(r rune) bool {
	return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t'
}

// Validate reports whether d is a plausible lower-case DNS name: labels
// of letters, digits and hyphens (not at either end), 1–63 characters
// each, at most 253 in all.
func Validate(d string) error {
	switch {
	case d == "":
		return fmt.Errorf("domain %q: empty", d)
	case len(d) > 253:
		return fmt.Errorf("domain %q: longer than 253 characters", d)
	}
	for _, label := range strings.Split(d, ".") {
		switch {
		case label == "":
			return fmt.Errorf("domain %q: empty label", d)
		case len(label) > 63:
			return fmt.Errorf("domain %q: label longer than 63 characters", d)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Errorf("domain %q: label starts or ends with a hyphen", d)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("domain %q: invalid character %q", d, c)
			}
		}
	}
	return nil
}
