package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/store"
)

// RunReopen checks durability across restarts: it writes through one
// store, closes it, opens another on the same dir and checks that
// everything is still there; then it takes the hints and appends to the
// audit log, and checks, through a third store, that those were durable
// too. open must return a
// store on the data in dir, creating it when dir holds none; RunReopen
// closes every store it gets.
func RunReopen(t *testing.T, open func(t *testing.T, dir string) store.Store) {
	t.Helper()
	dir := t.TempDir()
	ctx := t.Context()

	settings := store.Settings{SubscriptionTTL: 300 * time.Second, AllowlistEnabled: true, AllowlistDomains: []string{"a.example", "b.example"}}
	tokens := []store.Token{
		{Hash: hash("client"), Kind: store.ClientToken, User: "alice@example.com", CreatedAt: at(0)},
		{Hash: hash("admin"), Kind: store.AdminToken, CreatedAt: at(time.Second)},
	}
	a := sub("a", "alice@example.com", "phone")
	a.PushToken = "push-a"
	a.Contacts = contacts(100)
	b := sub("b", "alice@example.com", "tablet")
	c := sub("c", "bob@example.com", "phone")
	hints := []store.Hint{hint("a", 3, 0), hint("b", 4, time.Second)}
	admin, other := account("Admin"), account("other")
	logged := []store.AuditEntry{entry("Admin", 0), entry("other", 1), entry("Admin", 2)}

	// First run: write everything, including a replace, a touch and a delete.
	s, closeS := openDir(t, open, dir)
	if err := s.Settings().Put(ctx, settings); err != nil {
		t.Fatalf("Settings.Put: %v", err)
	}
	for _, tok := range tokens {
		if err := s.Tokens().Create(ctx, tok); err != nil {
			t.Fatalf("Tokens.Create: %v", err)
		}
	}
	putAll(t, s, a, b, c)
	b.Contacts = []string{"zoe@example.com"}
	b.Key = "desk"
	putAll(t, s, b)
	if err := s.Subscriptions().Touch(ctx, []store.Touch{{ID: "a", ExpiresAt: at(time.Hour), Sequence: 77}}); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	a.ExpiresAt, a.Sequence = at(time.Hour), 77
	if err := s.Subscriptions().Delete(ctx, "c"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Hints().Save(ctx, hints); err != nil {
		t.Fatalf("Hints.Save: %v", err)
	}
	createAccounts(t, s, admin, other)
	if err := s.AdminAccounts().SetHash(ctx, "admin", phc("admin", 2), at(time.Hour)); err != nil {
		t.Fatalf("SetHash: %v", err)
	}
	admin.Hash, admin.UpdatedAt = phc("admin", 2), at(time.Hour)
	appendAll(t, s, logged)
	saved := store.SavedConfig{Values: map[string]any{"backend.sip.server": "sip.example.com", "backend.endpoints": []any{"sip:a@example.com"}}, UpdatedAt: at(2 * time.Hour), UpdatedBy: "Admin"}
	if err := s.Config().Put(ctx, saved); err != nil {
		t.Fatalf("Config.Put: %v", err)
	}
	closeS()

	// Second run: everything is there; take the hints.
	s, closeS = openDir(t, open, dir)
	got, err := s.Settings().Get(ctx)
	if err != nil {
		t.Fatalf("Settings.Get after reopen: %v", err)
	}
	if diff := cmp.Diff(settings, got, cmpOpts); diff != "" {
		t.Errorf("Settings after reopen (-want +got):\n%s", diff)
	}
	for _, want := range tokens {
		got, err := s.Tokens().Lookup(ctx, want.Hash)
		if err != nil {
			t.Fatalf("Tokens.Lookup after reopen: %v", err)
		}
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("token after reopen (-want +got):\n%s", diff)
		}
	}
	subs := []store.Subscription{a, b}
	checkList(t, s, subs)
	checkTake(t, s, hints)
	checkAccounts(t, s, []store.AdminAccount{admin, other})
	checkAudit(t, s, store.AuditQuery{Limit: 10}, newestFirst(logged))
	if got, err := s.Config().Get(ctx); err != nil {
		t.Errorf("Config.Get after reopen: %v", err)
	} else if diff := cmp.Diff(saved, got, cmpOpts); diff != "" {
		t.Errorf("saved config after reopen (-want +got):\n%s", diff)
	}
	// The ids keep increasing across the restart.
	more := []store.AuditEntry{entry("other", 3)}
	appendAll(t, s, more)
	if more[0].ID <= logged[len(logged)-1].ID {
		t.Errorf("Append after reopen assigned id %d, not above %d", more[0].ID, logged[len(logged)-1].ID)
	}
	logged = append(logged, more...)
	closeS()

	// Third run: the taken hints stay gone, the rest stays.
	s, closeS = openDir(t, open, dir)
	checkTake(t, s, nil)
	checkList(t, s, subs)
	checkAccounts(t, s, []store.AdminAccount{admin, other})
	checkAudit(t, s, store.AuditQuery{Limit: 10}, newestFirst(logged))
	checkAudit(t, s, store.AuditQuery{Limit: 10, Actor: "other"}, []store.AuditEntry{logged[3], logged[1]})
	closeS()
}

// openDir opens a store on dir. closeNow closes it, failing the test on
// error; if the test ends first, a cleanup closes it instead.
func openDir(t *testing.T, open func(t *testing.T, dir string) store.Store, dir string) (s store.Store, closeNow func()) {
	t.Helper()
	s = open(t, dir)
	var once sync.Once
	closeNow = func() {
		t.Helper()
		once.Do(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(closeNow)
	return s, closeNow
}
