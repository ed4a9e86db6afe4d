package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/presenced/presenced/internal/adminauth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/directory"
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

// newDashboard returns the dashboard's login manager over the store's
// accounts; with dashboard.directory_group set, directory accounts in
// that group may log in too, checked against the directory of the
// generation gw returns.
func newDashboard(cfg config.Config, st store.Store, clk clock.Clock, log *slog.Logger, gw func() *Gateway) (*adminauth.Manager, error) {
	hasher, err := adminauth.NewHasher(adminauth.DefaultParams, 2)
	if err != nil {
		return nil, err
	}
	ac := adminauth.Config{SecureCookie: cfg.TLS.CertFile != ""}
	if group := cfg.Dashboard.DirectoryGroup; group != "" {
		ac.Directory = func(ctx context.Context, name, password string) (string, error) {
			return directoryLogin(ctx, gw(), group, name, password)
		}
	}
	return adminauth.NewManager(storeAccounts{s: st.AdminAccounts(), now: clk.Now}, hasher, clk, ac, log.With("component", "dashboard")), nil
}

// directoryLogin checks a directory account against g's directory and
// maps the outcome to adminauth's errors.
func directoryLogin(ctx context.Context, g *Gateway, group, name, password string) (string, error) {
	var d directory.Directory
	if g != nil {
		d = g.Directory
	}
	a, ok := d.(directory.Authenticator)
	if !ok {
		return "", fmt.Errorf("%w: no directory that can check passwords is running", adminauth.ErrDirectoryUnavailable)
	}
	acct, err := a.Authenticate(ctx, name, password, group)
	switch {
	case errors.Is(err, directory.ErrBadCredentials), errors.Is(err, directory.ErrNotMember):
		return "", fmt.Errorf("%w: %v", adminauth.ErrInvalidCredentials, err)
	case err != nil:
		return "", fmt.Errorf("%w: %v", adminauth.ErrDirectoryUnavailable, err)
	}
	if acct.Mail != "" {
		return acct.Mail, nil
	}
	return acct.DN, nil
}
