package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/presenced/presenced/internal/store"
)

// settingsStore keeps the single settings row (id 1).
type settingsStore struct{ s *Store }

// Get returns the settings, or store.ErrNotFound before the first Put.
func (st settingsStore) Get(ctx context.Context) (store.Settings, error) {
	var (
		ttl     int64
		enabled bool
		domains string
	)
	err := st.s.read.QueryRowContext(ctx,
		`SELECT subscription_ttl_ms, allowlist_enabled, allowlist_domains FROM settings WHERE id = 1`,
	).Scan(&ttl, &enabled, &domains)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Settings{}, fmt.Errorf("get settings: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Settings{}, fmt.Errorf("get settings: %w", err)
	}
	list, err := decodeList(domains)
	if err != nil {
		return store.Settings{}, fmt.Errorf("get settings: allowlist domains: %w", err)
	}
	return store.Settings{
		SubscriptionTTL:  fromDurationMillis(ttl),
		AllowlistEnabled: enabled,
		AllowlistDomains: list,
	}, nil
}

// Put replaces the settings.
func (st settingsStore) Put(ctx context.Context, v store.Settings) error {
	domains, err := encodeList(v.AllowlistDomains)
	if err != nil {
		return fmt.Errorf("put settings: allowlist domains: %w", err)
	}
	_, err = st.s.write.ExecContext(ctx, `
		INSERT INTO settings (id, subscription_ttl_ms, allowlist_enabled, allowlist_domains)
		VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			subscription_ttl_ms = excluded.subscription_ttl_ms,
			allowlist_enabled = excluded.allowlist_enabled,
			allowlist_domains = excluded.allowlist_domains`,
		durationMillis(v.SubscriptionTTL), v.AllowlistEnabled, domains)
	if err != nil {
		return fmt.Errorf("put settings: %w", err)
	}
	return nil
}

// encodeList returns the stored form of a string list: a JSON array, "[]"
// for nil.
func encodeList(list []string) (string, error) {
	if list == nil {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// decodeList parses the stored form of a string list.
func decodeList(s string) ([]string, error) {
	var list []string
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, err
	}
	return list, nil
}
