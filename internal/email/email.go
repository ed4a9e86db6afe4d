// Package email validates and normalises the email addresses that name
// users and contacts.
package email

import (
	"errors"
	"fmt"
	"strings"

	"github.com/presenced/presenced/internal/allowlist"
)

// MaxLen is the longest address accepted (RFC 5321 path limit).
const MaxLen = 254

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid email")

// Normalize trims s, lower-cases it and checks that it is a plausible
// address: a local part of printable ASCII without spaces, quotes, angle
// brackets or commas, and a valid DNS domain.
func Normalize(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) == 0 || len(s) > MaxLen {
		return "", fmt.Errorf("%w: length must be 1..%d", ErrInvalid, MaxLen)
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", fmt.Errorf("%w: %q needs local@domain", ErrInvalid, s)
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 {
		return "", fmt.Errorf("%w: local part longer than 64", ErrInvalid)
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),:;<>@[\\]", c) >= 0 {
			return "", fmt.Errorf("%w: %q has a forbidden character", ErrInvalid, s)
		}
	}
	if err := allowlist.Validate(domain); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return s, nil
}

// Domain returns the domain part of a normalised address.
func Domain(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}
