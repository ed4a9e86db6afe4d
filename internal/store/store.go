// Package store is the contract for presenced's durable data: run-time
// settings, API tokens, client subscriptions, undelivered push hints, local
// admin accounts, the audit log of admin changes and configuration saved
// in the dashboard.
//
// Implementations: store/sqlite (the embedded default) and, later,
// store/postgres. Every implementation passes the conformance suite in
// store/storetest.
//
// All methods are safe for concurrent use and honour ctx cancellation.
// Errors other than the sentinels below are wrapped I/O failures.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Callers compare with errors.Is.
var (
	// ErrNotFound: the requested record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a record with the same unique identity already exists.
	ErrConflict = errors.New("store: conflict")
	// ErrInvalid: an argument is outside what the method accepts (an
	// empty name, a query limit out of range). Nothing was stored.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrTooLarge: a value is longer than its documented limit. Nothing
	// was stored.
	ErrTooLarge = errors.New("store: value too large")
)

// Store is presenced's durable data.
type Store interface {
	Settings() SettingsStore
	Tokens() TokenStore
	Subscriptions() SubscriptionStore
	Hints() HintStore
	AdminAccounts() AdminAccountStore
	Audit() AuditStore
	Config() ConfigStore
	// Close releases the store. No method may be called after Close.
	Close() error
}

// Settings are the values an administrator changes at run time.
type Settings struct {
	SubscriptionTTL  time.Duration
	AllowlistEnabled bool
	// AllowlistDomains are lower-case, unique and sorted.
	AllowlistDomains []string
}

// SettingsStore holds the single Settings record.
type SettingsStore interface {
	// Get returns the stored settings, or ErrNotFound before the first Put.
	Get(ctx context.Context) (Settings, error)
	// Put replaces the stored settings.
	Put(ctx context.Context, s Settings) error
}

// TokenKind tells client tokens from admin tokens.
type TokenKind string

// The token kinds.
const (
	ClientToken TokenKind = "client"
	AdminToken  TokenKind = "admin"
)

// Token is a stored API token. The secret itself is never stored: only
// Hash, a SHA-256 digest of it.
type Token struct {
	Hash      [32]byte
	Kind      TokenKind
	User      string // the email the token names; empty for admin tokens
	CreatedAt time.Time
}

// TokenStore holds API tokens by their hash.
type TokenStore interface {
	// Create stores t. ErrConflict when a token with the same hash exists.
	Create(ctx context.Context, t Token) error
	// Lookup returns the token with the given hash, or ErrNotFound.
	Lookup(ctx context.Context, hash [32]byte) (Token, error)
}

// Subscription is the durable form of a client subscription.
type Subscription struct {
	ID        string
	User      string
	Key       string // unique per User
	TTL       time.Duration
	ExpiresAt time.Time
	// Sequence is the last sequence number handed out (a lower bound
	// after a crash; see SubscriptionStore.Touch).
	Sequence  uint64
	PushToken string
	Contacts  []string // in the order the app gave them
}

// SubscriptionStore holds client subscriptions.
type SubscriptionStore interface {
	// Put creates or fully replaces the subscription with s.ID. When
	// another subscription of s.User already has s.Key, Put fails with
	// ErrConflict.
	Put(ctx context.Context, s Subscription) error
	// Touch updates the expiry and sequence of existing subscriptions in
	// one batch; ids that do not exist are ignored.
	Touch(ctx context.Context, touches []Touch) error
	// Delete removes the subscription; deleting a missing id is not an
	// error.
	Delete(ctx context.Context, id string) error
	// List returns every stored subscription, in no particular order.
	List(ctx context.Context) ([]Subscription, error)
}

// Touch is a lazily persisted change of a subscription's expiry and
// sequence.
type Touch struct {
	ID        string
	ExpiresAt time.Time
	Sequence  uint64
}

// Hint is a push hint that was not delivered before shutdown.
type Hint struct {
	Subscription string // subscription id; at most one hint per subscription
	Body         []byte // the exact JSON body to POST
	CreatedAt    time.Time
}

// HintStore keeps undelivered push hints across restarts.
type HintStore interface {
	// Save stores hints, replacing any stored hint of the same
	// subscription.
	Save(ctx context.Context, hints []Hint) error
	// Take returns every stored hint and removes them.
	Take(ctx context.Context) ([]Hint, error)
}

// AdminAccount is a local admin account. Hash is the password hash (a PHC
// string such as argon2id's); the password itself is never stored.
type AdminAccount struct {
	// Name is unique ignoring ASCII case: "Alice" and "alice" cannot both
	// exist. It is stored and returned as created.
	Name      string
	Hash      string
	CreatedAt time.Time
	UpdatedAt time.Time // the last change of Hash; CreatedAt until then
}

// AdminAccountStore holds local admin accounts. Names given to Get and
// SetHash match ignoring ASCII case. Validating names and hashes beyond
// their being non-empty is the caller's job.
type AdminAccountStore interface {
	// Create stores a. ErrConflict when an account of the same name,
	// ignoring ASCII case, exists; ErrInvalid when a.Name or a.Hash is
	// empty.
	Create(ctx context.Context, a AdminAccount) error
	// Get returns the named account, or ErrNotFound.
	Get(ctx context.Context, name string) (AdminAccount, error)
	// SetHash replaces the hash of the named account and sets its
	// UpdatedAt to at. ErrNotFound when it does not exist; ErrInvalid
	// when hash is empty.
	SetHash(ctx context.Context, name, hash string, at time.Time) error
	// List returns every account, sorted by name ignoring ASCII case.
	List(ctx context.Context) ([]AdminAccount, error)
	// Count returns the number of accounts.
	Count(ctx context.Context) (int, error)
}

// Limits of audit entries and queries.
const (
	// MaxAuditValue is the longest Before or After, in bytes.
	MaxAuditValue = 64 << 10
	// MaxAuditField is the longest Actor, Action, Target or Remote, in
	// bytes.
	MaxAuditField = 1 << 10
	// MaxAuditLimit is the largest AuditQuery.Limit.
	MaxAuditLimit = 500
)

// AuditEntry records one admin change.
type AuditEntry struct {
	// ID is assigned by AuditStore.Append (and ignored when given):
	// positive, unique, and greater than every ID assigned before.
	ID     int64
	At     time.Time
	Actor  string // who: the admin account or directory user
	Action string // what, e.g. "settings.update"
	Target string // what was changed, e.g. "settings" or an account name
	// Before and After are the changed value before and after the change,
	// as JSON text; empty when there is none (nothing before a create,
	// nothing after a delete). The store does not parse them.
	Before string
	After  string
	Remote string // the client address the change came from
}

// AuditQuery selects a page of the audit log.
type AuditQuery struct {
	// BeforeID, when positive, selects only entries with a smaller ID: the
	// ID of the last entry of one page gives the next page. Zero starts at
	// the newest entry.
	BeforeID int64
	// Limit is the most entries returned, 1 to MaxAuditLimit.
	Limit int
	// Actor, when not empty, selects only the entries whose Actor is
	// exactly this.
	Actor string
}

// AuditStore is the append-only audit log of admin changes: it has no way
// to change or remove an entry.
type AuditStore interface {
	// Append stores e and returns the ID it assigned. ErrTooLarge when a
	// field is longer than MaxAuditValue or MaxAuditField.
	Append(ctx context.Context, e AuditEntry) (int64, error)
	// List returns the entries q selects, newest (highest ID) first.
	// ErrInvalid when q.Limit is out of range or q.BeforeID is negative.
	List(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
}

// Check returns nil when an implementation may store e, and otherwise an
// error wrapping ErrTooLarge that names the field at fault. Every
// AuditStore calls it, so that they all agree on the limits.
func (e AuditEntry) Check() error {
	fields := []struct {
		name, value string
		limit       int
	}{
		{"actor", e.Actor, MaxAuditField},
		{"action", e.Action, MaxAuditField},
		{"target", e.Target, MaxAuditField},
		{"remote", e.Remote, MaxAuditField},
		{"before", e.Before, MaxAuditValue},
		{"after", e.After, MaxAuditValue},
	}
	for _, f := range fields {
		if len(f.value) > f.limit {
			return fmt.Errorf("audit %s is %d bytes, more than %d: %w", f.name, len(f.value), f.limit, ErrTooLarge)
		}
	}
	return nil
}

// Check returns nil when q is a valid query, and otherwise an error
// wrapping ErrInvalid.
func (q AuditQuery) Check() error {
	if q.Limit < 1 || q.Limit > MaxAuditLimit {
		return fmt.Errorf("audit query limit %d not in 1..%d: %w", q.Limit, MaxAuditLimit, ErrInvalid)
	}
	if q.BeforeID < 0 {
		return fmt.Errorf("audit query before id %d is negative: %w", q.BeforeID, ErrInvalid)
	}
	return nil
}

// MaxSavedConfig is the longest encoded SavedConfig.Values, in bytes.
const MaxSavedConfig = 256 << 10

// SavedConfig is configuration saved in the dashboard: config key paths
// (such as "backend.sip.server") to their raw values as JSON decodes them
// (strings, numbers, booleans, lists, and lists of mappings for
// backend.xmpp.clusters). The config package applies them as a layer
// above the file; the store neither parses nor checks the keys.
type SavedConfig struct {
	Values    map[string]any
	UpdatedAt time.Time
	UpdatedBy string // the admin account that saved them
}

// ConfigStore holds the single SavedConfig record.
type ConfigStore interface {
	// Get returns the saved configuration, or ErrNotFound before the
	// first Put.
	Get(ctx context.Context) (SavedConfig, error)
	// Put replaces it. ErrTooLarge when Values encode to more than
	// MaxSavedConfig bytes of JSON, ErrInvalid when they cannot be
	// encoded as JSON; nothing is stored then.
	Put(ctx context.Context, c SavedConfig) error
}
