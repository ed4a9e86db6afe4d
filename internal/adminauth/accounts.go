package adminauth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

var (
	// ErrNoAccount means the named account does not exist.
	ErrNoAccount = errors.New("no such admin account")
	// ErrAccountExists means an account of that name already exists.
	ErrAccountExists = errors.New("admin account already exists")
	// ErrInvalidName means a name is empty, longer than MaxNameLen, or
	// holds other characters than ASCII letters, digits and ". _ @ -".
	ErrInvalidName = errors.New("invalid admin account name")
)

// MaxNameLen is the longest account name, in bytes.
const MaxNameLen = 64

// Account is a local admin account. Hash is the PHC string made by
// Hasher.Hash; the password itself is never stored.
type Account struct {
	Name      string
	Hash      string
	CreatedAt time.Time
	// Directory marks an account checked by Config.Directory (not
	// stored; Hash and CreatedAt are empty).
	Directory bool
}

// Accounts stores local admin accounts. Names are compared exactly (they
// are case-sensitive). Implementations are safe for concurrent use; each
// method is atomic on its own, and the callers here need no transactions.
//
// Memory is the implementation for tests; internal/app adapts the
// store's admin accounts.
type Accounts interface {
	// Get returns the named account, or an error wrapping ErrNoAccount.
	Get(ctx context.Context, name string) (Account, error)
	// Create adds a, or returns an error wrapping ErrAccountExists.
	Create(ctx context.Context, a Account) error
	// SetPassword replaces the hash of the named account, or returns
	// an error wrapping ErrNoAccount.
	SetPassword(ctx context.Context, name, hash string) error
	// List returns every account, sorted by name.
	List(ctx context.Context) ([]Account, error)
}

// ValidName returns nil when name may name an account and an error
// wrapping ErrInvalidName otherwise. Names are restricted so that they are
// safe to show, log and put in an audit trail without escaping.
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: want 1 to %d characters", ErrInvalidName, MaxNameLen)
	}
	for _, c := range []byte(name) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '_' || c == '@' || c == '-'
		if !ok {
			return fmt.Errorf("%w: %q may hold only letters, digits and . _ @ -", ErrInvalidName, name)
		}
	}
	return nil
}

// Memory is an in-memory Accounts. The zero value is empty and ready.
type Memory struct {
	mu       sync.Mutex
	accounts map[string]Account // guarded by mu
}

var _ Accounts = (*Memory)(nil)

// Get implements Accounts.
func (m *Memory) Get(_ context.Context, name string) (Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[name]
	if !ok {
		return Account{}, fmt.Errorf("get %q: %w", name, ErrNoAccount)
	}
	return a, nil
}

// Create implements Accounts.
func (m *Memory) Create(_ context.Context, a Account) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.accounts[a.Name]; ok {
		return fmt.Errorf("create %q: %w", a.Name, ErrAccountExists)
	}
	if m.accounts == nil {
		m.accounts = make(map[string]Account)
	}
	m.accounts[a.Name] = a
	return nil
}

// SetPassword implements Accounts.
func (m *Memory) SetPassword(_ context.Context, name, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[name]
	if !ok {
		return fmt.Errorf("set password of %q: %w", name, ErrNoAccount)
	}
	a.Hash = hash
	m.accounts[name] = a
	return nil
}

// List implements Accounts.
func (m *Memory) List(context.Context) ([]Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Account, 0, len(m.accounts))
	for _, a := range m.accounts {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Account) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}
