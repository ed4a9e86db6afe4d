package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/store"
)

// testConcurrent drives every part of one store from several goroutines
// at once (meant for -race) and then checks that no write was lost.
func testConcurrent(t *testing.T, open func(t *testing.T) store.Store) {
	const (
		workers = 6
		rounds  = 15
	)
	s := newStore(t, open)
	ctx := t.Context()

	var (
		mu       sync.Mutex
		taken    []store.Hint       // guarded by mu
		settings []store.Settings   // guarded by mu; every value written
		audited  []store.AuditEntry // guarded by mu; every entry appended, with its ID
	)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			user := fmt.Sprintf("user%d@example.com", w)
			for r := range rounds {
				id := fmt.Sprintf("w%d-r%d", w, r)
				x := sub(id, user, fmt.Sprintf("key-%d", r))
				set := store.Settings{SubscriptionTTL: time.Duration(w*rounds+r+1) * time.Second, AllowlistDomains: []string{id + ".example"}}
				mu.Lock()
				settings = append(settings, set)
				mu.Unlock()
				tok := store.Token{Hash: hash(id), Kind: store.ClientToken, User: user, CreatedAt: at(0)}
				acct := account(strings.ToUpper(id))
				ent := entry(user, r)
				steps := []struct {
					name string
					do   func() error
				}{
					{"Put", func() error { return s.Subscriptions().Put(ctx, x) }},
					{"Touch", func() error {
						return s.Subscriptions().Touch(ctx, []store.Touch{{ID: id, ExpiresAt: at(time.Hour), Sequence: uint64(r) + 2}})
					}},
					{"List", func() error { _, err := s.Subscriptions().List(ctx); return err }},
					{"Settings.Put", func() error { return s.Settings().Put(ctx, set) }},
					{"Settings.Get", func() error { _, err := s.Settings().Get(ctx); return err }},
					{"Tokens.Create", func() error { return s.Tokens().Create(ctx, tok) }},
					{"Tokens.Lookup", func() error { _, err := s.Tokens().Lookup(ctx, tok.Hash); return err }},
					{"AdminAccounts.Create", func() error { return s.AdminAccounts().Create(ctx, acct) }},
					{"AdminAccounts.SetHash", func() error {
						return s.AdminAccounts().SetHash(ctx, id, phc(id, r+2), at(time.Hour))
					}},
					{"AdminAccounts.Get", func() error { _, err := s.AdminAccounts().Get(ctx, id); return err }},
					{"AdminAccounts.List", func() error { _, err := s.AdminAccounts().List(ctx); return err }},
					{"AdminAccounts.Count", func() error { _, err := s.AdminAccounts().Count(ctx); return err }},
					{"Audit.Append", func() error {
						var err error
						ent.ID, err = s.Audit().Append(ctx, ent)
						mu.Lock()
						audited = append(audited, ent)
						mu.Unlock()
						return err
					}},
					{"Audit.List", func() error {
						_, err := s.Audit().List(ctx, store.AuditQuery{Limit: 20, Actor: user})
						return err
					}},
					{"Hints.Save", func() error { return s.Hints().Save(ctx, []store.Hint{hint(id, r, 0)}) }},
					{"Hints.Take", func() error {
						if r%5 != 0 {
							return nil
						}
						got, err := s.Hints().Take(ctx)
						mu.Lock()
						taken = append(taken, got...)
						mu.Unlock()
						return err
					}},
				}
				for _, step := range steps {
					if err := step.do(); err != nil {
						t.Errorf("worker %d round %d: %s: %v", w, r, step.name, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Every subscription and token is there, with the last touch applied.
	var want []store.Subscription
	for w := range workers {
		for r := range rounds {
			id := fmt.Sprintf("w%d-r%d", w, r)
			x := sub(id, fmt.Sprintf("user%d@example.com", w), fmt.Sprintf("key-%d", r))
			x.ExpiresAt, x.Sequence = at(time.Hour), uint64(r)+2
			want = append(want, x)
			if _, err := s.Tokens().Lookup(ctx, hash(id)); err != nil {
				t.Errorf("Lookup token %s: %v", id, err)
			}
		}
	}
	checkList(t, s, want)

	// Every account is there with its last hash, sorted ignoring case.
	var wantAccounts []store.AdminAccount
	for w := range workers {
		for r := range rounds {
			id := fmt.Sprintf("w%d-r%d", w, r)
			a := account(strings.ToUpper(id))
			a.Hash, a.UpdatedAt = phc(id, r+2), at(time.Hour)
			wantAccounts = append(wantAccounts, a)
		}
	}
	slices.SortFunc(wantAccounts, func(a, b store.AdminAccount) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	checkAccounts(t, s, wantAccounts)

	// Every audit entry is there once, under the ID Append returned, and
	// each worker's entries got increasing IDs in the order it appended.
	slices.SortFunc(audited, newestID)
	gotAudit, _ := pageAll(t, s, store.AuditQuery{Limit: 17})
	if diff := cmp.Diff(audited, gotAudit, cmpOpts); diff != "" {
		t.Errorf("audit log (-want +got):\n%s", diff)
	}
	for w := range workers {
		user := fmt.Sprintf("user%d@example.com", w)
		mine := slices.DeleteFunc(slices.Clone(audited), func(e store.AuditEntry) bool { return e.Actor != user })
		for i, e := range mine { // newest first: rounds in descending order
			if want := entry(user, rounds-1-i); e.Before != want.Before {
				t.Errorf("worker %d: entry %d (id %d) is %s; want %s: ids out of append order", w, i, e.ID, e.Before, want.Before)
			}
		}
	}

	// Every hint was taken exactly once, by a worker or now.
	rest, err := s.Hints().Take(ctx)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	taken = append(taken, rest...)
	var wantHints []store.Hint
	for w := range workers {
		for r := range rounds {
			wantHints = append(wantHints, hint(fmt.Sprintf("w%d-r%d", w, r), r, 0))
		}
	}
	if diff := cmp.Diff(wantHints, taken, cmpOpts, sortHints); diff != "" {
		t.Errorf("hints taken (-want +got):\n%s", diff)
	}

	// The settings are one of the values written, whole.
	got, err := s.Settings().Get(ctx)
	if err != nil {
		t.Fatalf("Settings.Get: %v", err)
	}
	if !slices.ContainsFunc(settings, func(x store.Settings) bool { return cmp.Equal(x, got, cmpOpts) }) {
		t.Errorf("Settings.Get = %+v; not one of the values written", got)
	}
}

// testCancelled checks that every method fails with context.Canceled on a
// cancelled context and that the failed writes left nothing behind.
func testCancelled(t *testing.T, open func(t *testing.T) store.Store) {
	s := newStore(t, open)
	keep := sub("keep", "alice@example.com", "phone")
	putAll(t, s, keep)
	admin := account("admin")
	createAccounts(t, s, admin)
	logged := []store.AuditEntry{entry("admin", 0)}
	appendAll(t, s, logged)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	replaced := keep
	replaced.Contacts = []string{"eve@example.com"}
	tok := store.Token{Hash: hash("cancelled"), Kind: store.AdminToken, CreatedAt: at(0)}
	calls := []struct {
		name string
		call func() error
	}{
		{"Settings.Get", func() error { _, err := s.Settings().Get(ctx); return err }},
		{"Settings.Put", func() error { return s.Settings().Put(ctx, store.Settings{SubscriptionTTL: time.Minute}) }},
		{"Tokens.Create", func() error { return s.Tokens().Create(ctx, tok) }},
		{"Tokens.Lookup", func() error { _, err := s.Tokens().Lookup(ctx, tok.Hash); return err }},
		{"Subscriptions.Put new", func() error { return s.Subscriptions().Put(ctx, sub("new", "bob@example.com", "phone")) }},
		{"Subscriptions.Put replace", func() error { return s.Subscriptions().Put(ctx, replaced) }},
		{"Subscriptions.Touch", func() error {
			return s.Subscriptions().Touch(ctx, []store.Touch{{ID: "keep", ExpiresAt: at(time.Hour), Sequence: 99}})
		}},
		{"Subscriptions.Delete", func() error { return s.Subscriptions().Delete(ctx, "keep") }},
		{"Subscriptions.List", func() error { _, err := s.Subscriptions().List(ctx); return err }},
		{"Hints.Save", func() error { return s.Hints().Save(ctx, []store.Hint{hint("keep", 1, 0)}) }},
		{"Hints.Take", func() error { _, err := s.Hints().Take(ctx); return err }},
		{"AdminAccounts.Create", func() error { return s.AdminAccounts().Create(ctx, account("new")) }},
		{"AdminAccounts.Get", func() error { _, err := s.AdminAccounts().Get(ctx, "admin"); return err }},
		{"AdminAccounts.SetHash", func() error {
			return s.AdminAccounts().SetHash(ctx, "admin", phc("admin", 5), at(time.Hour))
		}},
		{"AdminAccounts.List", func() error { _, err := s.AdminAccounts().List(ctx); return err }},
		{"AdminAccounts.Count", func() error { _, err := s.AdminAccounts().Count(ctx); return err }},
		{"Audit.Append", func() error { _, err := s.Audit().Append(ctx, entry("admin", 1)); return err }},
		{"Audit.List", func() error { _, err := s.Audit().List(ctx, store.AuditQuery{Limit: 10}); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with cancelled context = %v; want context.Canceled", c.name, err)
		}
	}

	if _, err := s.Settings().Get(t.Context()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Settings.Get after cancelled Put = %v; want ErrNotFound", err)
	}
	if _, err := s.Tokens().Lookup(t.Context(), tok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Tokens.Lookup after cancelled Create = %v; want ErrNotFound", err)
	}
	checkList(t, s, []store.Subscription{keep})
	checkTake(t, s, nil)
	checkAccounts(t, s, []store.AdminAccount{admin})
	checkAudit(t, s, store.AuditQuery{Limit: 10}, logged)
}

// testConcurrentSameName creates one account name, in different cases,
// from several goroutines at once: exactly one Create wins.
func testConcurrentSameName(t *testing.T, open func(t *testing.T) store.Store) {
	s := newStore(t, open)
	names := []string{"admin", "Admin", "ADMIN", "aDmin", "adMin", "admIn", "admiN", "ADmin"}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { errs[i] = s.AdminAccounts().Create(t.Context(), account(name)) })
	}
	wg.Wait()
	var winner []store.AdminAccount
	for i, err := range errs {
		switch {
		case err == nil:
			winner = append(winner, account(names[i]))
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("Create(%q) = %v; want nil or ErrConflict", names[i], err)
		}
	}
	if len(winner) != 1 {
		t.Fatalf("%d of %d Creates of one name succeeded; want 1", len(winner), len(names))
	}
	checkAccounts(t, s, winner)
}

// newestID orders audit entries by ID, highest first, as List does.
func newestID(a, b store.AuditEntry) int {
	switch {
	case a.ID > b.ID:
		return -1
	case a.ID < b.ID:
		return 1
	}
	return 0
}
