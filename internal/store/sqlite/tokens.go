package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/presenced/presenced/internal/store"
)

// tokenStore keeps API tokens by hash. Errors never show a hash: it is as
// good as the token to anyone who can replay it against a store.
type tokenStore struct{ s *Store }

// Create stores t, or fails with store.ErrConflict when its hash exists.
func (st tokenStore) Create(ctx context.Context, t store.Token) error {
	_, err := st.s.write.ExecContext(ctx,
		`INSERT INTO tokens (hash, kind, user_email, created_at_ms) VALUES (?, ?, ?, ?)`,
		t.Hash[:], string(t.Kind), t.User, millis(t.CreatedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("create %s token: %w", t.Kind, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create %s token: %w", t.Kind, err)
	}
	return nil
}

// Lookup returns the token with the given hash, or store.ErrNotFound.
func (st tokenStore) Lookup(ctx context.Context, hash [32]byte) (store.Token, error) {
	t := store.Token{Hash: hash}
	var (
		kind    string
		created int64
	)
	err := st.s.read.QueryRowContext(ctx,
		`SELECT kind, user_email, created_at_ms FROM tokens WHERE hash = ?`, hash[:],
	).Scan(&kind, &t.User, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, fmt.Errorf("look up token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("look up token: %w", err)
	}
	t.Kind = store.TokenKind(kind)
	t.CreatedAt = fromMillis(created)
	return t, nil
}
