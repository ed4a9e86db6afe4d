package adminauth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/clock"
)

// Session defaults.
const (
	DefaultIdleTimeout           = 30 * time.Minute
	DefaultMaxLifetime           = 12 * time.Hour
	DefaultMaxSessionsPerAccount = 5
)

// secretBytes is the entropy of session ids, CSRF and setup tokens.
const secretBytes = 32

// secretLen is the length of every string newSecret returns.
var secretLen = base64.RawURLEncoding.EncodedLen(secretBytes)

// Session is a logged-in admin. It is a copy: changing it changes nothing
// stored.
type Session struct {
	Account   string
	CSRF      string    // per-session token for state-changing requests
	CreatedAt time.Time // the absolute lifetime counts from here
	LastSeen  time.Time // the idle timeout counts from here

	key [32]byte // SHA-256 of the raw id; the raw id is never kept
}

// SessionConfig bounds sessions. Zero fields take the defaults above.
type SessionConfig struct {
	IdleTimeout           time.Duration // default 30 min
	MaxLifetime           time.Duration // default 12 h
	MaxSessionsPerAccount int           // default 5; the oldest is evicted
}

func (c SessionConfig) withDefaults() SessionConfig {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxLifetime <= 0 {
		c.MaxLifetime = DefaultMaxLifetime
	}
	if c.MaxSessionsPerAccount <= 0 {
		c.MaxSessionsPerAccount = DefaultMaxSessionsPerAccount
	}
	return c
}

// Sessions keeps server-side sessions in memory, keyed by the SHA-256 of
// the random id the client holds, so that a dump of the table cannot be
// replayed. Memory is bounded by accounts × MaxSessionsPerAccount: expired
// sessions are dropped when looked up and when their account logs in
// again. Sessions are per process (several instances would need shared
// state). It is safe for concurrent use.
type Sessions struct {
	cfg SessionConfig
	clk clock.Clock

	mu        sync.Mutex
	byKey     map[[32]byte]*Session // guarded by mu
	byAccount map[string][]*Session // guarded by mu; oldest first
}

// NewSessions returns an empty session table reading time from clk.
func NewSessions(cfg SessionConfig, clk clock.Clock) *Sessions {
	return &Sessions{
		cfg:       cfg.withDefaults(),
		clk:       clk,
		byKey:     make(map[[32]byte]*Session),
		byAccount: make(map[string][]*Session),
	}
}

// newSecret returns the unpadded base64url form of 32 random bytes.
func newSecret() string {
	var b [secretBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func sessionKey(id string) [32]byte { return sha256.Sum256([]byte(id)) }

// Create starts a session for account and returns the raw id to give the
// client (it is not stored) and the session. When the account already has
// MaxSessionsPerAccount live sessions the oldest is ended.
func (s *Sessions) Create(account string) (id string, _ Session) {
	id = newSecret()
	now := s.clk.Now()
	sess := &Session{Account: account, CSRF: newSecret(), CreatedAt: now, LastSeen: now, key: sessionKey(id)}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.byAccount[account]
	live := list[:0]
	for _, old := range list {
		if s.expired(old, now) {
			delete(s.byKey, old.key)
		} else {
			live = append(live, old)
		}
	}
	for len(live) >= s.cfg.MaxSessionsPerAccount {
		delete(s.byKey, live[0].key)
		live = live[1:]
	}
	s.byAccount[account] = append(live, sess)
	s.byKey[sess.key] = sess
	return id, *sess
}

// Lookup returns the live session with raw id and marks it used now,
// which restarts its idle timeout. It reports false for an unknown,
// malformed or expired id; an expired session is ended.
func (s *Sessions) Lookup(id string) (Session, bool) {
	if len(id) != secretLen {
		return Session{}, false
	}
	key := sessionKey(id)
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.byKey[key]
	if !ok {
		return Session{}, false
	}
	if s.expired(sess, now) {
		s.deleteLocked(sess)
		return Session{}, false
	}
	sess.LastSeen = now
	return *sess, true
}

// Delete ends the session with raw id, if any (logout).
func (s *Sessions) Delete(id string) {
	key := sessionKey(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, ok := s.byKey[key]; ok {
		s.deleteLocked(sess)
	}
}

// DeleteAccount ends every session of account, as after a password change.
func (s *Sessions) DeleteAccount(account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range s.byAccount[account] {
		delete(s.byKey, sess.key)
	}
	delete(s.byAccount, account)
}

// CheckCSRF reports whether token is sess's CSRF token, in constant time.
func CheckCSRF(sess Session, token string) bool {
	return sess.CSRF != "" && subtle.ConstantTimeCompare([]byte(sess.CSRF), []byte(token)) == 1
}

func (s *Sessions) expired(sess *Session, now time.Time) bool {
	return !now.Before(sess.LastSeen.Add(s.cfg.IdleTimeout)) || !now.Before(sess.CreatedAt.Add(s.cfg.MaxLifetime))
}

func (s *Sessions) deleteLocked(sess *Session) {
	delete(s.byKey, sess.key)
	list := s.byAccount[sess.Account]
	for i, other := range list {
		if other == sess {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.byAccount, sess.Account)
	} else {
		s.byAccount[sess.Account] = list
	}
}
