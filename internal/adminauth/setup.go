package adminauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
)

// DefaultSetupTokenTTL is how long a setup token stays valid.
const DefaultSetupTokenTTL = 24 * time.Hour

// SetupTokenPrefix starts every setup token so that one is easy to
// recognise in a log or a paste.
const SetupTokenPrefix = "pcdsetup_"

var (
	// ErrSetupDone means an admin account exists already, so no setup
	// token is issued or accepted.
	ErrSetupDone = errors.New("an admin account exists already")
	// ErrSetupToken means the setup token is wrong, used or expired.
	ErrSetupToken = errors.New("invalid or expired setup token")
)

type setupToken struct {
	hash    [32]byte
	expires time.Time
}

// SetupToken returns a new one-time token that allows CreateFirst to make
// the first account. The caller prints it once; only its SHA-256 is kept,
// in memory, valid for SetupTokenTTL or until used. A new token replaces
// any earlier one. It fails with ErrSetupDone when an account exists.
func (m *Manager) SetupToken(ctx context.Context) (string, error) {
	m.setupMu.Lock()
	defer m.setupMu.Unlock()
	if err := m.noAccountsLocked(ctx); err != nil {
		return "", fmt.Errorf("setup token: %w", err)
	}
	token := SetupTokenPrefix + newSecret()
	m.setup = &setupToken{hash: sha256.Sum256([]byte(token)), expires: m.clk.Now().Add(m.cfg.SetupTokenTTL)}
	return token, nil
}

// CreateFirst creates the first account when token is the valid setup
// token and no account exists, and then invalidates the token. A name or
// password that is refused leaves the token valid for another try.
func (m *Manager) CreateFirst(ctx context.Context, token, name, password string) (Account, error) {
	m.setupMu.Lock()
	defer m.setupMu.Unlock()
	given := sha256.Sum256([]byte(token))
	if m.setup == nil || !m.clk.Now().Before(m.setup.expires) ||
		subtle.ConstantTimeCompare(given[:], m.setup.hash[:]) != 1 {
		return Account{}, fmt.Errorf("create first account: %w", ErrSetupToken)
	}
	if err := m.noAccountsLocked(ctx); err != nil {
		m.setup = nil
		return Account{}, fmt.Errorf("create first account: %w", err)
	}
	acct, err := m.CreateAccount(ctx, name, password)
	if err != nil {
		return Account{}, fmt.Errorf("create first account: %w", err)
	}
	m.setup = nil
	m.log.Info("first admin account created with the setup token", "account", acct.Name)
	return acct, nil
}

func (m *Manager) noAccountsLocked(ctx context.Context) error {
	list, err := m.accounts.List(ctx)
	if err != nil {
		return fmt.Errorf("list accounts: %w", err)
	}
	if len(list) > 0 {
		return ErrSetupDone
	}
	return nil
}

// SetupNeeded reports whether no account exists yet, so that the login
// page can offer the setup token form.
func (m *Manager) SetupNeeded(ctx context.Context) (bool, error) {
	list, err := m.accounts.List(ctx)
	if err != nil {
		return false, fmt.Errorf("list accounts: %w", err)
	}
	return len(list) == 0, nil
}
