package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/presenced/presenced/internal/store"
)

// hintStore keeps undelivered push hints, one per subscription.
type hintStore struct{ s *Store }

// Save stores hints in one transaction, replacing stored hints of the
// same subscriptions.
func (st hintStore) Save(ctx context.Context, hints []store.Hint) error {
	if len(hints) == 0 {
		return nil
	}
	err := st.s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `
			INSERT INTO push_hints (subscription_id, body, created_at_ms) VALUES (?, ?, ?)
			ON CONFLICT (subscription_id) DO UPDATE SET
				body = excluded.body,
				created_at_ms = excluded.created_at_ms`)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		defer stmt.Close()
		for _, h := range hints {
			body := h.Body
			if body == nil {
				body = []byte{} // NOT NULL: an empty body is still a body
			}
			if _, err := stmt.ExecContext(ctx, h.Subscription, body, millis(h.CreatedAt)); err != nil {
				return fmt.Errorf("subscription %s: %w", h.Subscription, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save %d push hints: %w", len(hints), err)
	}
	return nil
}

// Take removes and returns every stored hint. The removal commits only
// once every hint has been read, so a failed Take loses none.
func (st hintStore) Take(ctx context.Context) ([]store.Hint, error) {
	var hints []store.Hint
	err := st.s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx,
			`DELETE FROM push_hints RETURNING subscription_id, body, created_at_ms`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				h       store.Hint
				created int64
			)
			if err := rows.Scan(&h.Subscription, &h.Body, &created); err != nil {
				return err
			}
			h.CreatedAt = fromMillis(created)
			hints = append(hints, h)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return rows.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("take push hints: %w", err)
	}
	return hints, nil
}
