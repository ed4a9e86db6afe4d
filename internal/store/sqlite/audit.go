package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/presenced/presenced/internal/store"
)

// auditStore is the append-only audit log. Triggers in the schema refuse
// UPDATE and DELETE on it.
type auditStore struct{ s *Store }

// Append stores e and returns its id, which AUTOINCREMENT makes greater
// than every id before it.
func (st auditStore) Append(ctx context.Context, e store.AuditEntry) (int64, error) {
	if err := e.Check(); err != nil {
		return 0, fmt.Errorf("append audit entry %s: %w", e.Action, err)
	}
	var id int64
	err := st.s.write.QueryRowContext(ctx, `
		INSERT INTO audit_log (at_ms, actor, action, target, before, after, remote)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		millis(e.At), e.Actor, e.Action, e.Target, e.Before, e.After, e.Remote,
	).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("append audit entry %s: %w", e.Action, err)
	}
	return id, nil
}

// List returns the entries q selects, newest first.
func (st auditStore) List(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	var (
		where []string
		args  []any
	)
	if q.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, q.BeforeID)
	}
	if q.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, q.Actor)
	}
	query := `SELECT id, at_ms, actor, action, target, before, after, remote FROM audit_log`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, q.Limit)

	rows, err := st.s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	defer rows.Close()
	out := make([]store.AuditEntry, 0, min(q.Limit, 64))
	for rows.Next() {
		var (
			e  store.AuditEntry
			at int64
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Before, &e.After, &e.Remote); err != nil {
			return nil, fmt.Errorf("list audit log: %w", err)
		}
		e.At = fromMillis(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	return out, nil
}
