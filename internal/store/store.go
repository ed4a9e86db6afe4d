// Package store is the contract for presenced's durable data: run-time
// settings, API tokens, client subscriptions and undelivered push hints.
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
	"time"
)

// Sentinel errors. Callers compare with errors.Is.
var (
	// ErrNotFound: the requested record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a record with the same unique identity already exists.
	ErrConflict = errors.New("store: conflict")
)

// Store is presenced's durable data.
type Store interface {
	Settings() SettingsStore
	Tokens() TokenStore
	Subscriptions() SubscriptionStore
	Hints() HintStore
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
