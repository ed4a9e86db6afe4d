package app

import (
	"context"
	"encoding/json"
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
	now := time.Now()
	secret, hash, err := auth.Issue(ctx, st.Tokens(), kind, user, now)
	if err != nil {
		return "", err
	}
	target := user
	if kind == store.AdminToken {
		target = "admin"
	}
	cliAudit(ctx, st, now, "token.create", target, map[string]string{"kind": string(kind), "user": user, "token_id": auth.TokenID(hash)}, log)
	return secret, nil
}

// cliActor names the command line in the audit log.
const cliActor = "command line"

// cliAudit records a change made by a command in the audit log, like the
// admin API's; a failure to record it is logged, not returned (the change
// is made).
func cliAudit(ctx context.Context, st store.Store, at time.Time, action, target string, after any, log *slog.Logger) {
	b, err := json.Marshal(after)
	if err == nil {
		_, err = st.Audit().Append(ctx, store.AuditEntry{At: at, Actor: cliActor, Action: action, Target: target, After: string(b)})
	}
	if err != nil {
		log.Error("audit log append failed", "action", action, "err", err)
	}
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
	if err != nil {
		return err
	}
	cliAudit(ctx, st, now, "account.create", name, map[string]string{"name": name}, log)
	return nil
}
