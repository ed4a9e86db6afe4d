// Package directory is the contract between presenced and the corporate
// directory (LDAP / Active Directory, a domain controller or a global
// catalog): it resolves a contact's email to the presence address the
// backend subscribes to, says whether the contact is enabled for presence,
// and serves contact cards and searches. Optionally (Authenticator) it
// checks a directory user's password and group membership, for the admin
// dashboard's directory accounts.
//
// Implementations live in subpackages (directory/ldap) and pass the
// conformance suite in directory/directorytest; directory/cache wraps any
// of them with positive and negative caching and request collapsing.
package directory

import (
	"context"
	"errors"
)

// Errors of Lookup, Search and Authenticate, matched with errors.Is.
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
	// ErrBadCredentials: Authenticate found no single entry with the
	// login, or the password is empty, too long or wrong. Callers show
	// one message for all of these, so that a login's existence does
	// not leak.
	ErrBadCredentials = errors.New("directory: bad credentials")
	// ErrNotMember: Authenticate checked the password, and the entry is
	// not a member of the group (or the group does not exist).
	ErrNotMember = errors.New("directory: not a member of the group")
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

// Bounds of Authenticate's arguments: a longer login or password is
// ErrBadCredentials without a query.
const (
	MaxLogin    = 256  // bytes
	MaxPassword = 1024 // bytes
)

// Authenticator is the optional ability to check a directory user's own
// password and membership of a group, for the dashboard's directory accounts.
type Authenticator interface {
	// Authenticate finds the user entry whose mail, sAMAccountName or
	// userPrincipalName equals login (case-insensitive), binds as that
	// entry with password, and reports whether the entry is a member of
	// the group with DN group (direct member/uniqueMember of the group entry,
	// or the group's DN among the user's memberOf values; DNs compared
	// case-insensitively after normalisation). It returns ErrBadCredentials
	// when no entry has the login, the password is empty or wrong (an empty
	// password must NEVER reach a bind: LDAP treats it as an unauthenticated
	// bind that succeeds), or more than one entry matches; ErrNotMember when
	// the password is right but the entry is not in the group;
	// ErrUnavailable-wrapped errors when the directory cannot be reached.
	//
	// A login longer than MaxLogin or a password longer than MaxPassword
	// is ErrBadCredentials. Membership is direct: a member of a group
	// that is a member of group is not one. The result is never cached,
	// and the password is never logged or put in an error.
	Authenticate(ctx context.Context, login, password, group string) (Account, error)
}

// Account is an authenticated directory user.
type Account struct {
	// DN is the user entry's DN as the directory returned it.
	DN string
	// Mail and SAMAccountName are the entry's values; empty when absent.
	Mail           string
	SAMAccountName string
}
