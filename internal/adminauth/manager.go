// Package adminauth authenticates dashboard administrators: local accounts
// with argon2id password hashes, server-side sessions behind an HttpOnly,
// SameSite=Strict cookie, a per-session CSRF token required on every
// state-changing request, login rate limiting per account and per client
// address, and a one-time setup token for creating the first account.
//
// It is storage-agnostic: accounts live behind the Accounts interface
// (Memory here; internal/app adapts the store's), directory accounts are
// checked by a DirectoryLogin the caller supplies, and sessions are kept in
// memory by the process that created them.
package adminauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/clock"
)

var (
	// ErrInvalidCredentials means the account does not exist or the
	// password is wrong; the two are deliberately not told apart.
	ErrInvalidCredentials = errors.New("wrong account name or password")
	// ErrLocked is wrapped by *LockedError.
	ErrLocked = errors.New("too many failed logins")
	// ErrUnauthenticated means the request carries no live session.
	ErrUnauthenticated = errors.New("login required")
	// ErrCSRF means a state-changing request lacked the session's CSRF
	// token or came from another origin.
	ErrCSRF = errors.New("missing or invalid CSRF token")
	// ErrDirectoryUnavailable means a directory account could not be
	// checked because the directory did not answer.
	ErrDirectoryUnavailable = errors.New("the directory is unavailable; local accounts can still log in")
)

// DirectoryPrefix starts the session and audit name of a directory
// account, so that it is never mistaken for a local one.
const DirectoryPrefix = "directory:"

// MaxDirectoryLogin is the longest name sent to the directory, in bytes.
const MaxDirectoryLogin = 256

// DirectoryLogin checks a directory account's name and password and its
// membership of the admin group. It returns the account's name to show
// (its mail), an error wrapping ErrInvalidCredentials when the name is
// unknown, the password wrong or the account not in the group, and an
// error wrapping ErrDirectoryUnavailable when the directory cannot tell.
type DirectoryLogin func(ctx context.Context, name, password string) (string, error)

// LockedError is returned by Login while the account name or the client
// address has too many recent failures. It wraps ErrLocked.
type LockedError struct {
	RetryAfter time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%v: retry after %v", ErrLocked, e.RetryAfter.Round(time.Second))
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// Config configures a Manager. Zero fields take the stated defaults.
type Config struct {
	Sessions      SessionConfig
	MaxFailures   int           // failed logins per window before a lock; default 5
	FailureWindow time.Duration // counting window and lock duration; default 15 min
	SetupTokenTTL time.Duration // default 24 h
	// SecureCookie sets the cookie's Secure attribute even on plain HTTP
	// requests, for a listener behind a TLS-terminating proxy. Secure is
	// always set when the request came over TLS.
	SecureCookie bool
	// ClientIP returns the address logins are rate-limited by; default
	// the host of r.RemoteAddr. Behind a proxy, supply one that trusts
	// only the proxy's forwarding header.
	ClientIP func(r *http.Request) netip.Addr
	// Directory, when set, checks names that no local account has; nil
	// allows local accounts only.
	Directory DirectoryLogin
}

func (c Config) withDefaults() Config {
	c.Sessions = c.Sessions.withDefaults()
	if c.MaxFailures <= 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	if c.FailureWindow <= 0 {
		c.FailureWindow = DefaultFailureWindow
	}
	if c.SetupTokenTTL <= 0 {
		c.SetupTokenTTL = DefaultSetupTokenTTL
	}
	if c.ClientIP == nil {
		c.ClientIP = remoteIP
	}
	return c
}

// Manager ties accounts, password hashing, sessions, rate limiting and the
// setup token together, and provides the HTTP glue. It is safe for
// concurrent use.
type Manager struct {
	cfg      Config
	accounts Accounts
	hasher   *Hasher
	sessions *Sessions
	fails    *failures
	clk      clock.Clock
	log      *slog.Logger
	origin   *http.CrossOriginProtection

	setupMu sync.Mutex  // held for the whole of SetupToken and CreateFirst
	setup   *setupToken // guarded by setupMu; nil when none is valid
}

// NewManager returns a Manager over accounts, hashing with hasher and
// reading time from clk.
func NewManager(accounts Accounts, hasher *Hasher, clk clock.Clock, cfg Config, log *slog.Logger) *Manager {
	cfg = cfg.withDefaults()
	return &Manager{
		cfg:      cfg,
		accounts: accounts,
		hasher:   hasher,
		sessions: NewSessions(cfg.Sessions, clk),
		fails:    newFailures(cfg.MaxFailures, cfg.FailureWindow, clk),
		clk:      clk,
		log:      log.With("component", "adminauth"),
		origin:   http.NewCrossOriginProtection(),
	}
}

// Sessions returns the Manager's session table.
func (m *Manager) Sessions() *Sessions { return m.sessions }

// Authenticate checks name and password for a client at ip. It returns a
// *LockedError without checking anything while the name or the address is
// locked, ErrInvalidCredentials for an unknown name or a wrong password
// (an unknown name costs a hash too, so timing does not reveal it), and
// the account otherwise. A name no local account has goes to
// Config.Directory when one is set; such an account is named
// DirectoryPrefix + its mail, and its failures count like local ones.
func (m *Manager) Authenticate(ctx context.Context, name, password string, ip netip.Addr) (Account, error) {
	local, dir := ValidName(name) == nil, m.cfg.Directory != nil && directoryName(name)
	nameKey := accountKey(name)
	if !local && !dir {
		nameKey = accountKey("\x00invalid") // one shared key, not one per garbage name
	}
	keys := []string{nameKey, ipKey(ip)}
	if wait, locked := m.fails.locked(keys...); locked {
		return Account{}, &LockedError{RetryAfter: wait}
	}
	var (
		acct Account
		err  = ErrNoAccount // a name no local account may have is not looked up
	)
	if local {
		acct, err = m.accounts.Get(ctx, name)
	}
	var ok bool
	switch {
	case errors.Is(err, ErrNoAccount) && dir:
		shown, derr := m.cfg.Directory(ctx, name, password)
		switch {
		case errors.Is(derr, ErrInvalidCredentials):
			m.fails.fail(keys...)
			return Account{}, ErrInvalidCredentials
		case derr != nil:
			return Account{}, fmt.Errorf("authenticate %q: %w", name, derr)
		}
		m.fails.reset(nameKey)
		return Account{Name: DirectoryPrefix + shown, Directory: true}, nil
	case errors.Is(err, ErrNoAccount):
		ok, err = m.hasher.VerifyDummy(ctx, password)
	case err != nil:
		return Account{}, fmt.Errorf("authenticate: %w", err)
	default:
		ok, err = m.hasher.Verify(ctx, password, acct.Hash)
	}
	if err != nil {
		return Account{}, fmt.Errorf("authenticate %q: %w", name, err)
	}
	if !ok {
		m.fails.fail(keys...)
		return Account{}, ErrInvalidCredentials
	}
	m.fails.reset(nameKey)
	m.rehash(ctx, acct, password)
	return acct, nil
}

// rehash stores a hash with the current parameters when the stored one
// was made with others. Failure is logged, not fatal: the old hash works.
func (m *Manager) rehash(ctx context.Context, acct Account, password string) {
	if !m.hasher.NeedsRehash(acct.Hash) || CheckPassword(password) != nil {
		return
	}
	h, err := m.hasher.Hash(ctx, password)
	if err == nil {
		err = m.accounts.SetPassword(ctx, acct.Name, h)
	}
	if err != nil {
		m.log.Warn("could not upgrade password hash", "account", acct.Name, "err", err)
	}
}

// CreateAccount adds a local account named name with password.
func (m *Manager) CreateAccount(ctx context.Context, name, password string) (Account, error) {
	if err := ValidName(name); err != nil {
		return Account{}, fmt.Errorf("create account: %w", err)
	}
	h, err := m.hasher.Hash(ctx, password)
	if err != nil {
		return Account{}, fmt.Errorf("create account %q: %w", name, err)
	}
	acct := Account{Name: name, Hash: h, CreatedAt: m.clk.Now().UTC()}
	if err := m.accounts.Create(ctx, acct); err != nil {
		return Account{}, fmt.Errorf("create account: %w", err)
	}
	return acct, nil
}

// SetPassword replaces the password of account name and ends all its
// sessions, so a stolen session does not survive the change.
func (m *Manager) SetPassword(ctx context.Context, name, password string) error {
	h, err := m.hasher.Hash(ctx, password)
	if err != nil {
		return fmt.Errorf("set password of %q: %w", name, err)
	}
	if err := m.accounts.SetPassword(ctx, name, h); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	m.sessions.DeleteAccount(name)
	return nil
}

// directoryName reports whether name may be sent to the directory: 1 to
// MaxDirectoryLogin bytes of UTF-8 without control characters.
func directoryName(name string) bool {
	if name == "" || len(name) > MaxDirectoryLogin || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// remoteIP is the default Config.ClientIP.
func remoteIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, _ := netip.ParseAddr(host)
	return addr // the zero Addr for garbage: all such clients share one key
}
