package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/presenced/presenced/internal/store"
)

// configStore keeps the single saved-configuration row (id 1).
type configStore struct{ s *Store }

// Get returns the saved configuration, or store.ErrNotFound before the
// first Put.
func (st configStore) Get(ctx context.Context) (store.SavedConfig, error) {
	var (
		vals string
		at   int64
		by   string
	)
	err := st.s.read.QueryRowContext(ctx,
		`SELECT vals, updated_at_ms, updated_by FROM saved_config WHERE id = 1`).Scan(&vals, &at, &by)
	if errors.Is(err, sql.ErrNoRows) {
		return store.SavedConfig{}, fmt.Errorf("get saved config: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.SavedConfig{}, fmt.Errorf("get saved config: %w", err)
	}
	c := store.SavedConfig{UpdatedAt: fromMillis(at), UpdatedBy: by}
	if err := json.Unmarshal([]byte(vals), &c.Values); err != nil {
		return store.SavedConfig{}, fmt.Errorf("get saved config: decode: %w", err)
	}
	if c.Values == nil {
		c.Values = map[string]any{}
	}
	return c, nil
}

// Put replaces the saved configuration.
func (st configStore) Put(ctx context.Context, c store.SavedConfig) error {
	if c.Values == nil {
		c.Values = map[string]any{}
	}
	b, err := json.Marshal(c.Values)
	if err != nil {
		return fmt.Errorf("put saved config: %w: %v", store.ErrInvalid, err)
	}
	if len(b) > store.MaxSavedConfig {
		return fmt.Errorf("put saved config: %d bytes, more than %d: %w", len(b), store.MaxSavedConfig, store.ErrTooLarge)
	}
	_, err = st.s.write.ExecContext(ctx, `
		INSERT INTO saved_config (id, vals, updated_at_ms, updated_by) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			vals = excluded.vals, updated_at_ms = excluded.updated_at_ms, updated_by = excluded.updated_by`,
		string(b), millis(c.UpdatedAt), c.UpdatedBy)
	if err != nil {
		return fmt.Errorf("put saved config: %w", err)
	}
	return nil
}
