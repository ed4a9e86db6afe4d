package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/presenced/presenced/internal/adminauth"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/email"
	"github.com/presenced/presenced/internal/store"
)

// CreateToken stores a new client API token for user and returns its
// secret, which is shown once and never stored.
func CreateToken(ctx context.Context, cfg config.Config, user string, log *slog.Logger) (string, error) {
	addr, err := email.Normalize(user)
	if err != nil {
		return "", err
	}
	return createToken(ctx, cfg, store.ClientToken, addr, log)
}

// CreateAdminToken stores a new admin API token and returns its secret.
func CreateAdminToken(ctx context.Context, cfg config.Config, log *slog.Logger) (string, error) {
	return createToken(ctx, cfg, store.AdminToken, "", log)
}

func createToken(ctx context.Context, cfg config.Config, kind store.TokenKind, user string, log *slog.Logger) (string, error) {
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return "", err
	}
	defer st.Close()
	secret, _, err := auth.Issue(ctx, st.Tokens(), kind, user, time.Now())
	return secret, err
}

// CreateAdminAccount stores a local dashboard account with an argon2id
// hash of password (at least 12 characters). A name already taken, in
// any case, is an error.
func CreateAdminAccount(ctx context.Context, cfg config.Config, name, password string, log *slog.Logger) error {
	if err := adminauth.ValidName(name); err != nil {
		return err
	}
	if err := adminauth.CheckPassword(password); err != nil {
		return err
	}
	h, err := adminauth.NewHasher(adminauth.DefaultParams, 1)
	if err != nil {
		return err
	}
	hash, err := h.Hash(ctx, password)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	err = st.AdminAccounts().Create(ctx, store.AdminAccount{Name: name, Hash: hash, CreatedAt: now, UpdatedAt: now})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("an admin account named %q exists already", name)
	}
	return err
}
