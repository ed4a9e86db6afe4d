package presence

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxJIDPart is the longest localpart, domainpart or resourcepart, in
// bytes (RFC 7622 §3.2–3.4).
const maxJIDPart = 1023

// JID is an XMPP address, local@domain/resource (RFC 7622), normalised by
// ParseJID. The zero value is the absent address. JIDs are comparable and
// may be used as map keys.
type JID struct {
	Local    string // "" for a domain-only JID
	Domain   string
	Resource string // "" for a bare JID
}

// ParseJID splits s into its parts and normalises them by a simple rule
// rather than full PRECIS (RFC 7622 §3):
//
//   - the resource is everything after the first '/'; the local part is
//     everything before the first '@' that precedes it;
//   - local part and domain are lower-cased (Unicode simple case mapping,
//     which equals PRECIS for ASCII); the resource is kept as is;
//   - one trailing '.' of the domain is removed;
//   - each part present is 1–1023 bytes of valid UTF-8 with no control or
//     whitespace characters (spaces are allowed in the resource);
//   - the local part may not hold " & ' / : < > @; the domain may not hold
//     those nor '\', nor empty labels, except that a bracketed IPv6 literal
//     may hold ':'.
//
// Anything else is an error wrapping ErrJID. Input that is not in Unicode
// normalisation form C is not normalised, so two spellings of a non-ASCII
// address may not compare equal.
func ParseJID(s string) (JID, error) {
	j, err := parseJID(s)
	if err != nil {
		return JID{}, fmt.Errorf("%w %q: %s", ErrJID, truncate(s, 64), err)
	}
	return j, nil
}

func parseJID(s string) (JID, error) {
	var j JID
	if !utf8.ValidString(s) {
		return j, errString("invalid UTF-8")
	}
	rest := s
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		j.Resource, rest = rest[i+1:], rest[:i]
		if err := checkPart(j.Resource, "resource", ""); err != nil {
			return JID{}, err
		}
	}
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		j.Local, rest = strings.ToLower(rest[:i]), rest[i+1:]
		if err := checkPart(j.Local, "local part", `"&'/:<>@`); err != nil {
			return JID{}, err
		}
	}
	j.Domain = strings.ToLower(strings.TrimSuffix(rest, "."))
	if err := checkDomain(j.Domain); err != nil {
		return JID{}, err
	}
	return j, nil
}

// checkPart checks one part of a JID: 1–1023 bytes, no control
// characters, no whitespace other than U+0020 in a resource, none of bad.
func checkPart(p, what, bad string) error {
	if p == "" || len(p) > maxJIDPart {
		return errString(what + " empty or longer than 1023 bytes")
	}
	for _, r := range p {
		switch {
		case unicode.IsControl(r):
			return errString(what + " holds a control character")
		case unicode.IsSpace(r) && (r != ' ' || what != "resource"):
			return errString(what + " holds whitespace")
		case strings.ContainsRune(bad, r):
			return errString(fmt.Sprintf("%s holds %q", what, r))
		}
	}
	return nil
}

func checkDomain(d string) error {
	if strings.HasPrefix(d, "[") && strings.HasSuffix(d, "]") {
		lit := d[1 : len(d)-1]
		if lit == "" || strings.Trim(lit, "0123456789abcdef:.") != "" {
			return errString("malformed IPv6 literal")
		}
		return nil
	}
	if err := checkPart(d, "domain", `"&'/:<>@\[]`); err != nil {
		return err
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" {
			return errString("domain has an empty label")
		}
	}
	return nil
}

// errString is a plain error message, wrapped by ParseJID.
type errString string

func (e errString) Error() string { return string(e) }

// IsZero reports whether j is the absent address.
func (j JID) IsZero() bool { return j == JID{} }

// Bare returns j without its resource.
func (j JID) Bare() JID { return JID{Local: j.Local, Domain: j.Domain} }

// String returns the JID in its usual form, local@domain/resource, or ""
// for the zero JID.
func (j JID) String() string {
	var b strings.Builder
	b.Grow(len(j.Local) + len(j.Domain) + len(j.Resource) + 2)
	if j.Local != "" {
		b.WriteString(j.Local)
		b.WriteByte('@')
	}
	b.WriteString(j.Domain)
	if j.Resource != "" {
		b.WriteByte('/')
		b.WriteString(j.Resource)
	}
	return b.String()
}

// truncate cuts s to at most n bytes at a UTF-8 boundary and reports
// whether it cut anything. Invalid UTF-8 is replaced first.
func truncate(s string, n int) string {
	t, _ := truncated(s, n)
	return t
}

func truncated(s string, n int) (string, bool) {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s, false
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i], true
}
