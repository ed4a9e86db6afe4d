package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// adminAccountStore keeps local admin accounts. The name column is
// COLLATE NOCASE, so lookups, uniqueness and order ignore ASCII case.
// Errors never show a hash.
type adminAccountStore struct{ s *Store }

// Create stores a, or fails with store.ErrConflict when the name exists.
func (st adminAccountStore) Create(ctx context.Context, a store.AdminAccount) error {
	if a.Name == "" || a.Hash == "" {
		return fmt.Errorf("create admin account %q: empty name or hash: %w", a.Name, store.ErrInvalid)
	}
	_, err := st.s.write.ExecContext(ctx,
		`INSERT INTO admin_accounts (name, hash, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?)`,
		a.Name, a.Hash, millis(a.CreatedAt), millis(a.UpdatedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("create admin account %q: %w", a.Name, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create admin account %q: %w", a.Name, err)
	}
	return nil
}

// Get returns the named account, or store.ErrNotFound.
func (st adminAccountStore) Get(ctx context.Context, name string) (store.AdminAccount, error) {
	row := st.s.read.QueryRowContext(ctx,
		`SELECT name, hash, created_at_ms, updated_at_ms FROM admin_accounts WHERE name = ?`, name)
	a, err := scanAccount(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.AdminAccount{}, fmt.Errorf("get admin account %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.AdminAccount{}, fmt.Errorf("get admin account %q: %w", name, err)
	}
	return a, nil
}

// SetHash replaces the hash and UpdatedAt of the named account.
func (st adminAccountStore) SetHash(ctx context.Context, name, hash string, at time.Time) error {
	if hash == "" {
		return fmt.Errorf("set hash of admin account %q: empty hash: %w", name, store.ErrInvalid)
	}
	res, err := st.s.write.ExecContext(ctx,
		`UPDATE admin_accounts SET hash = ?, updated_at_ms = ? WHERE name = ?`,
		hash, millis(at), name)
	if err != nil {
		return fmt.Errorf("set hash of admin account %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("set hash of admin account %q: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("set hash of admin account %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// List returns every account, sorted by name ignoring ASCII case.
func (st adminAccountStore) List(ctx context.Context) ([]store.AdminAccount, error) {
	rows, err := st.s.read.QueryContext(ctx,
		`SELECT name, hash, created_at_ms, updated_at_ms FROM admin_accounts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list admin accounts: %w", err)
	}
	defer rows.Close()
	var out []store.AdminAccount
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("list admin accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list admin accounts: %w", err)
	}
	return out, nil
}

// Count returns the number of accounts.
func (st adminAccountStore) Count(ctx context.Context) (int, error) {
	var n int
	if err := st.s.read.QueryRowContext(ctx, `SELECT count(*) FROM admin_accounts`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count admin accounts: %w", err)
	}
	return n, nil
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface{ Scan(dest ...any) error }

// scanAccount reads the columns name, hash, created_at_ms, updated_at_ms.
func scanAccount(r scanner) (store.AdminAccount, error) {
	var (
		a                store.AdminAccount
		created, updated int64
	)
	if err := r.Scan(&a.Name, &a.Hash, &created, &updated); err != nil {
		return store.AdminAccount{}, err
	}
	a.CreatedAt, a.UpdatedAt = fromMillis(created), fromMillis(updated)
	return a, nil
}
