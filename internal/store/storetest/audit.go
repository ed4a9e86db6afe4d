package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/store"
)

// entry returns an audit entry by actor, numbered n.
func entry(actor string, n int) store.AuditEntry {
	return store.AuditEntry{
		At:     at(time.Duration(n) * time.Second),
		Actor:  actor,
		Action: "settings.update",
		Target: "settings",
		Before: fmt.Sprintf(`{"subscription_ttl":%d}`, n),
		After:  fmt.Sprintf(`{"subscription_ttl":%d}`, n+1),
		Remote: "192.0.2.7:50123",
	}
}

// appendAll appends entries, sets the ID of each to the one assigned and
// checks that every ID is greater than the one before.
func appendAll(t *testing.T, s store.Store, entries []store.AuditEntry) {
	t.Helper()
	var last int64
	for i := range entries {
		id, err := s.Audit().Append(t.Context(), entries[i])
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if id <= last {
			t.Fatalf("Append %d assigned id %d after id %d; want increasing positive ids", i, id, last)
		}
		entries[i].ID, last = id, id
	}
}

// newestFirst returns entries in reverse, as List orders them.
func newestFirst(entries []store.AuditEntry) []store.AuditEntry {
	out := slices.Clone(entries)
	slices.Reverse(out)
	return out
}

// checkAudit fails the test unless List(q) returns exactly want.
func checkAudit(t *testing.T, s store.Store, q store.AuditQuery, want []store.AuditEntry) {
	t.Helper()
	got, err := s.Audit().List(t.Context(), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("List(%+v) (-want +got):\n%s", q, diff)
	}
}

// pageAll reads every entry q selects, q.Limit at a time, following
// BeforeID from page to page.
func pageAll(t *testing.T, s store.Store, q store.AuditQuery) (all []store.AuditEntry, pages int) {
	t.Helper()
	for {
		page, err := s.Audit().List(t.Context(), q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		if len(page) > q.Limit {
			t.Fatalf("List(%+v) returned %d entries; want at most the limit", q, len(page))
		}
		if len(page) == 0 {
			return all, pages
		}
		next := page[len(page)-1].ID
		if q.BeforeID > 0 && next >= q.BeforeID {
			t.Fatalf("List(%+v) returned id %d, not below BeforeID", q, next)
		}
		all, pages = append(all, page...), pages+1
		q.BeforeID = next
	}
}

func testAudit(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Empty", func(t *testing.T) {
		s := newStore(t, open)
		checkAudit(t, s, store.AuditQuery{Limit: store.MaxAuditLimit}, nil)
		checkAudit(t, s, store.AuditQuery{Limit: 1, Actor: "admin", BeforeID: 10}, nil)
	})

	t.Run("AppendList", func(t *testing.T) {
		s := newStore(t, open)
		created := store.AuditEntry{
			ID: 999, // ignored: Append assigns the id
			At: at(0), Actor: "admin", Action: "account.create", Target: "Zoë",
			After: `{"name":"Zoë","note":"quote \" and\nnew line"}`, Remote: "[2001:db8::1]:443",
		}
		deleted := store.AuditEntry{At: at(time.Minute), Actor: "ldap:jdoe", Action: "token.delete", Target: "t1", Before: `{"kind":"admin"}`}
		blank := store.AuditEntry{At: at(2 * time.Minute)} // every field empty is still an entry
		entries := []store.AuditEntry{created, deleted, blank, entry("admin", 3)}
		appendAll(t, s, entries)
		checkAudit(t, s, store.AuditQuery{Limit: store.MaxAuditLimit}, newestFirst(entries))
		checkAudit(t, s, store.AuditQuery{Limit: 1}, newestFirst(entries)[:1])
		checkAudit(t, s, store.AuditQuery{Limit: 10, Actor: "admin"}, []store.AuditEntry{entries[3], entries[0]})
		checkAudit(t, s, store.AuditQuery{Limit: 10, Actor: "ADMIN"}, nil) // actors match exactly
		checkAudit(t, s, store.AuditQuery{Limit: 10, Actor: "ldap:jdoe"}, entries[1:2])
	})

	t.Run("Paging", func(t *testing.T) {
		s := newStore(t, open)
		var entries []store.AuditEntry
		for n := range 23 {
			actor := "alice"
			if n%3 == 0 {
				actor = "bob"
			}
			entries = append(entries, entry(actor, n))
		}
		appendAll(t, s, entries)
		byActor := func(actor string) []store.AuditEntry {
			return slices.DeleteFunc(newestFirst(entries), func(e store.AuditEntry) bool { return e.Actor != actor })
		}
		tests := []struct {
			name      string
			q         store.AuditQuery
			want      []store.AuditEntry
			wantPages int
		}{
			{"all by 5", store.AuditQuery{Limit: 5}, newestFirst(entries), 5},
			{"all by 1", store.AuditQuery{Limit: 1}, newestFirst(entries), 23},
			{"all at once", store.AuditQuery{Limit: 23}, newestFirst(entries), 1},
			{"alice by 4", store.AuditQuery{Limit: 4, Actor: "alice"}, byActor("alice"), 4},
			{"bob by 4", store.AuditQuery{Limit: 4, Actor: "bob"}, byActor("bob"), 2},
			{"before the tenth", store.AuditQuery{Limit: 6, BeforeID: entries[9].ID}, newestFirst(entries[:9]), 2},
			{"bob before the tenth", store.AuditQuery{Limit: 6, BeforeID: entries[9].ID, Actor: "bob"},
				[]store.AuditEntry{entries[6], entries[3], entries[0]}, 1},
			{"before the first", store.AuditQuery{Limit: 5, BeforeID: entries[0].ID}, nil, 0},
			{"before an id not yet given", store.AuditQuery{Limit: 50, BeforeID: entries[22].ID + 1000}, newestFirst(entries), 1},
			{"nobody", store.AuditQuery{Limit: 5, Actor: "carol"}, nil, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, pages := pageAll(t, s, tt.q)
				if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
					t.Errorf("entries (-want +got):\n%s", diff)
				}
				if pages != tt.wantPages {
					t.Errorf("read %d pages; want %d", pages, tt.wantPages)
				}
			})
		}
	})

	t.Run("SizeLimit", func(t *testing.T) {
		s := newStore(t, open)
		value := func(n int) string { return `"` + strings.Repeat("x", n-2) + `"` } // JSON text of n bytes
		field := strings.Repeat("f", store.MaxAuditField)
		tests := []struct {
			name    string
			edit    func(e *store.AuditEntry)
			wantErr error
		}{
			{"before at the limit", func(e *store.AuditEntry) { e.Before = value(store.MaxAuditValue) }, nil},
			{"after at the limit", func(e *store.AuditEntry) { e.After = value(store.MaxAuditValue) }, nil},
			{"both at the limit", func(e *store.AuditEntry) {
				e.Before, e.After = value(store.MaxAuditValue), value(store.MaxAuditValue)
			}, nil},
			{"short fields at the limit", func(e *store.AuditEntry) {
				e.Actor, e.Action, e.Target, e.Remote = field, field, field, field
			}, nil},
			{"before too large", func(e *store.AuditEntry) { e.Before = value(store.MaxAuditValue + 1) }, store.ErrTooLarge},
			{"after too large", func(e *store.AuditEntry) { e.After = value(store.MaxAuditValue + 1) }, store.ErrTooLarge},
			{"after far too large", func(e *store.AuditEntry) { e.After = value(10 * store.MaxAuditValue) }, store.ErrTooLarge},
			{"actor too large", func(e *store.AuditEntry) { e.Actor = field + "f" }, store.ErrTooLarge},
			{"action too large", func(e *store.AuditEntry) { e.Action = field + "f" }, store.ErrTooLarge},
			{"target too large", func(e *store.AuditEntry) { e.Target = field + "f" }, store.ErrTooLarge},
			{"remote too large", func(e *store.AuditEntry) { e.Remote = field + "f" }, store.ErrTooLarge},
		}
		var stored []store.AuditEntry
		for i, tt := range tests {
			e := entry("admin", i)
			tt.edit(&e)
			id, err := s.Audit().Append(t.Context(), e)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: Append = %d, %v; want %v", tt.name, id, err, tt.wantErr)
				continue
			}
			if err == nil {
				e.ID = id
				stored = append(stored, e)
			}
		}
		// Only the entries within the limits were stored, whole.
		checkAudit(t, s, store.AuditQuery{Limit: store.MaxAuditLimit}, newestFirst(stored))
	})

	t.Run("InvalidQuery", func(t *testing.T) {
		s := newStore(t, open)
		appendAll(t, s, []store.AuditEntry{entry("admin", 0)})
		for _, q := range []store.AuditQuery{
			{},
			{Limit: -1},
			{Limit: store.MaxAuditLimit + 1},
			{Limit: 10, BeforeID: -1},
		} {
			if got, err := s.Audit().List(t.Context(), q); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("List(%+v) = %d entries, %v; want ErrInvalid", q, len(got), err)
			}
		}
	})
}
