package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/presenced/presenced/internal/adminauth"
	"github.com/presenced/presenced/internal/store"
)

// storeAccounts keeps the dashboard's accounts in the store (names unique
// in any case there).
type storeAccounts struct {
	s   store.AdminAccountStore
	now func() time.Time
}

func (a storeAccounts) Get(ctx context.Context, name string) (adminauth.Account, error) {
	acct, err := a.s.Get(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return adminauth.Account{}, fmt.Errorf("%w: %s", adminauth.ErrNoAccount, name)
	}
	if err != nil {
		return adminauth.Account{}, err
	}
	return adminauth.Account{Name: acct.Name, Hash: acct.Hash, CreatedAt: acct.CreatedAt}, nil
}

func (a storeAccounts) Create(ctx context.Context, acct adminauth.Account) error {
	err := a.s.Create(ctx, store.AdminAccount{Name: acct.Name, Hash: acct.Hash, CreatedAt: acct.CreatedAt, UpdatedAt: acct.CreatedAt})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: %s", adminauth.ErrAccountExists, acct.Name)
	}
	return err
}

func (a storeAccounts) SetPassword(ctx context.Context, name, hash string) error {
	err := a.s.SetHash(ctx, name, hash, a.now())
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", adminauth.ErrNoAccount, name)
	}
	return err
}

func (a storeAccounts) List(ctx context.Context) ([]adminauth.Account, error) {
	list, err := a.s.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]adminauth.Account, len(list))
	for i, acct := range list {
		out[i] = adminauth.Account{Name: acct.Name, Hash: acct.Hash, CreatedAt: acct.CreatedAt}
	}
	return out, nil
}
