// Package directory is the contract between presenced and the corporate
// directory (LDAP / Active Directory, a domain controller or a global
// catalog): it resolves a contact's email to the presence address the
// backend subscribes to, says whether the contact is enabled for presence,
// and serves contact cards and searches.
//
// Implementations live in subpackages (directory/ldap) and pass the
// conformance suite in directory/directorytest; directory/cache wraps any
// of them with positive and negative caching and request collapsing.
package directory

import (
	"context"
	"errors"
)

// Errors of Lookup and Search, matched with errors.Is.
var (
	// ErrNotFound: no entry has this email (the legacy code -1,
	// reason not_found).
	ErrNotFound = errors.New("directory: not found")
	// ErrUnavailable wraps every failure to reach or query the
	// directory: apps see Unknown/backend_error for unresolved contacts
	// and 503 on the directory endpoints.
	ErrUnavailable = errors.New("directory: unavailable")
	// ErrInvalid: the query itself is unusable (a malformed email, an
	// empty search); a 400.
	ErrInvalid = errors.New("directory: invalid query")
)

// Card is what a contact card shows (API.md §3); empty fields are absent
// in the directory.
type Card struct {
	Mail            string `json:"mail"`
	DisplayName     string `json:"displayName,omitempty"`
	GivenName       string `json:"givenName,omitempty"`
	SN              string `json:"sn,omitempty"`
	Title           string `json:"title,omitempty"`
	TelephoneNumber string `json:"telephoneNumber,omitempty"`
	Mobile          string `json:"mobile,omitempty"`
	SAMAccountName  string `json:"sAMAccountName,omitempty"`
}

// Entry is one contact as the directory knows it.
type Entry struct {
	Card
	// Address is the contact's presence address from the configured
	// attribute (e.g. msRTCSIP-PrimaryUserAddress "sip:alice@example.com",
	// or an XMPP JID); empty when the entry has none.
	Address string
	// Enabled is false when the entry says presence is disabled
	// (msRTCSIP-UserEnabled FALSE); true when it says enabled or says
	// nothing.
	Enabled bool
}

// Directory looks contacts up. Implementations are safe for concurrent
// use and bound every call by ctx and their own timeouts.
type Directory interface {
	// Lookup finds the entry whose mail (or an smtp: proxy address) is
	// email, compared case-insensitively. ErrNotFound when none has it.
	Lookup(ctx context.Context, email string) (Entry, error)
	// Search returns at most limit cards whose name, mail or account
	// name matches text (a substring, case-insensitive; metacharacters are
	// plain text), sorted by mail. limit is at least 1.
	Search(ctx context.Context, text string, limit int) ([]Card, error)
}

// HealthChecker is the optional ability to report readiness.
type HealthChecker interface {
	// Healthy returns nil when the directory answers (a bind and a
	// rootDSE read for LDAP), or why it does not.
	Healthy(ctx context.Context) error
}
