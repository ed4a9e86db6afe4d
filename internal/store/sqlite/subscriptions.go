package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/presenced/presenced/internal/store"
)

// subscriptionStore keeps client subscriptions. Sequence numbers are
// stored as the int64 with the same bits, so every uint64 round-trips.
type subscriptionStore struct{ s *Store }

// Put creates or fully replaces the subscription with x.ID. A (user, key)
// pair held by another subscription is store.ErrConflict.
func (st subscriptionStore) Put(ctx context.Context, x store.Subscription) error {
	contacts, err := encodeList(x.Contacts)
	if err != nil {
		return fmt.Errorf("put subscription %s: contacts: %w", x.ID, err)
	}
	// The upsert resolves only a clash on id; a clash on (user_email,
	// sub_key) with another row fails the statement as a UNIQUE violation.
	_, err = st.s.write.ExecContext(ctx, `
		INSERT INTO subscriptions
			(id, user_email, sub_key, ttl_ms, expires_at_ms, sequence, push_token, contacts)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			user_email = excluded.user_email,
			sub_key = excluded.sub_key,
			ttl_ms = excluded.ttl_ms,
			expires_at_ms = excluded.expires_at_ms,
			sequence = excluded.sequence,
			push_token = excluded.push_token,
			contacts = excluded.contacts`,
		x.ID, x.User, x.Key, durationMillis(x.TTL), millis(x.ExpiresAt), int64(x.Sequence), x.PushToken, contacts)
	if isUniqueViolation(err) {
		return fmt.Errorf("put subscription %s: key already used: %w", x.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("put subscription %s: %w", x.ID, err)
	}
	return nil
}

// Touch updates the expiry and sequence of the subscriptions that exist,
// all in one transaction.
func (st subscriptionStore) Touch(ctx context.Context, touches []store.Touch) error {
	if len(touches) == 0 {
		return nil
	}
	err := st.s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx,
			`UPDATE subscriptions SET expires_at_ms = ?, sequence = ? WHERE id = ?`)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		defer stmt.Close()
		for _, t := range touches {
			if _, err := stmt.ExecContext(ctx, millis(t.ExpiresAt), int64(t.Sequence), t.ID); err != nil {
				return fmt.Errorf("subscription %s: %w", t.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("touch %d subscriptions: %w", len(touches), err)
	}
	return nil
}

// Delete removes the subscription with the given id, if any.
func (st subscriptionStore) Delete(ctx context.Context, id string) error {
	if _, err := st.s.write.ExecContext(ctx, `DELETE FROM subscriptions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete subscription %s: %w", id, err)
	}
	return nil
}

// List returns every subscription.
func (st subscriptionStore) List(ctx context.Context) ([]store.Subscription, error) {
	rows, err := st.s.read.QueryContext(ctx, `
		SELECT id, user_email, sub_key, ttl_ms, expires_at_ms, sequence, push_token, contacts
		FROM subscriptions`)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	defer rows.Close()
	var subs []store.Subscription
	for rows.Next() {
		x, err := scanSubscription(rows)
		if err != nil {
			return nil, fmt.Errorf("list subscriptions: %w", err)
		}
		subs = append(subs, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return subs, nil
}

// scanSubscription reads one row of the List query.
func scanSubscription(rows *sql.Rows) (store.Subscription, error) {
	var (
		x                 store.Subscription
		ttl, expires, seq int64
		contacts          string
	)
	if err := rows.Scan(&x.ID, &x.User, &x.Key, &ttl, &expires, &seq, &x.PushToken, &contacts); err != nil {
		return store.Subscription{}, err
	}
	list, err := decodeList(contacts)
	if err != nil {
		return store.Subscription{}, fmt.Errorf("subscription %s: contacts: %w", x.ID, err)
	}
	x.TTL = fromDurationMillis(ttl)
	x.ExpiresAt = fromMillis(expires)
	x.Sequence = uint64(seq)
	x.Contacts = list
	return x, nil
}
