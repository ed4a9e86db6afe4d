package presence

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/allowlist"
	"github.com/presenced/presenced/internal/status"
)

// TestConcurrentUse runs subscribers, a backend, a clock with sweeps and
// allowlist changes, and stream listeners at once (run it with -race),
// then checks that the hub's bookkeeping still adds up.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, withLinger(50*time.Millisecond), withCoalesce(20*time.Millisecond), func(c *Config) {
		c.MaxSubscriptionsPerUser = 4
		c.MaxContacts = 12
	})
	var contacts []string
	for i := range 30 {
		contacts = append(contacts, fmt.Sprintf("c%d@%s", i, []string{"x.com", "y.com", "z.com"}[i%3]))
	}
	users := []string{"u0@x.com", "u1@x.com", "u2@x.com", "u3@x.com"}
	pick := func(r *rand.Rand, n int) []string {
		out := make([]string, r.IntN(n+1))
		for i := range out {
			out[i] = contacts[r.IntN(len(contacts))]
		}
		return out
	}

	ctx, cancel := context.WithCancel(bg)
	var background sync.WaitGroup // backend, clock and listeners: run until cancel
	var workers sync.WaitGroup    // subscribers: run a fixed amount of work
	errs := make(chan error, 100)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}

	// Listeners: each user's stream drains its events, checks that every
	// subscription's sequences strictly increase, and reconnects when
	// dropped.
	for _, u := range users {
		background.Add(1)
		go func() {
			defer background.Done()
			for ctx.Err() == nil {
				l := e.hub.Listen(u, 8)
				last := map[string]uint64{}
			read:
				for {
					select {
					case <-ctx.Done():
						l.Close()
						return
					case <-l.Done():
						break read
					case <-l.Ready():
						for _, ev := range l.Drain(nil) {
							if ev.Kind != PresenceChanged {
								continue
							}
							if ev.Sequence <= last[ev.Subscription] {
								report(fmt.Errorf("%s: subscription %s sequence %d after %d", u, ev.Subscription, ev.Sequence, last[ev.Subscription]))
							}
							last[ev.Subscription] = ev.Sequence
						}
					}
				}
			}
		}()
	}

	// The backend reports presence for any contact.
	background.Add(1)
	go func() {
		defer background.Done()
		r := rand.New(rand.NewPCG(1, 1))
		for ctx.Err() == nil {
			e.hub.Update(contacts[r.IntN(len(contacts))], status.Presence{Availability: status.Availability(1 + r.IntN(6))})
		}
	}()

	// Time passes: lingers and coalescing timers fire, sweeps and
	// flushes run, the administrator edits the allowlist.
	background.Add(1)
	go func() {
		defer background.Done()
		r := rand.New(rand.NewPCG(2, 2))
		for i := 0; ctx.Err() == nil; i++ {
			e.clk.Advance(10 * time.Millisecond)
			e.hub.Sweep(ctx)
			if err := e.hub.Flush(ctx); err != nil {
				report(err)
			}
			_ = e.hub.Stats()
			if i%20 == 0 {
				switch r.IntN(3) {
				case 0:
					e.hub.SetAllowlist(allowlist.List{})
				case 1:
					e.hub.SetAllowlist(allowlist.New(true, []string{"x.com", "y.com"}))
				case 2:
					e.hub.SetAllowlist(allowlist.New(true, []string{"z.com"}))
				}
			}
			e.hub.Query(ctx, pick(r, 3), nil)
		}
	}()

	for n, u := range users {
		workers.Add(1)
		go func() {
			defer workers.Done()
			r := rand.New(rand.NewPCG(uint64(10+n), 0))
			for range 400 {
				key := fmt.Sprintf("k%d", r.IntN(5))
				var err error
				switch op := r.IntN(6); op {
				case 0, 1:
					_, _, err = e.hub.Subscribe(ctx, SubscribeRequest{User: u, Key: key, Contacts: pick(r, 8)})
				case 2:
					var id string
					if id, err = e.hub.IDForKey(u, key); err == nil {
						_, err = e.hub.Patch(ctx, u, id, pick(r, 3), pick(r, 3))
					}
				case 3:
					var id string
					if id, err = e.hub.IDForKey(u, key); err == nil {
						err = e.hub.Delete(ctx, u, id)
					}
				case 4:
					var id string
					var v View
					if id, err = e.hub.IDForKey(u, key); err == nil {
						if v, err = e.hub.Get(u, id); err == nil {
							_, err = e.hub.ChangesSince(u, id, v.Sequence-uint64(r.IntN(3)))
						}
					}
				case 5:
					e.hub.List(u)
				}
				if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrTooManySubscriptions) && !errors.Is(err, ErrTooManyContacts) {
					report(fmt.Errorf("%s: %w", u, err))
				}
			}
		}()
	}
	workers.Wait()
	cancel()
	background.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	checkInvariants(t, e.hub)
	e.clk.Advance(time.Second) // every linger and coalescing timer runs out
	checkInvariants(t, e.hub)

	st := e.hub.Stats()
	t.Logf("at the end: %+v; changes %v, coalesced %v, expired %v", st,
		e.counter("presenced_contact_changes_total"), e.counter("presenced_coalesced_updates_total"), e.counter("presenced_subscriptions_expired_total"))
	if st.Deliveries == 0 {
		t.Errorf("no event was delivered: the test exercised nothing")
	}
	var inMemory []string
	for _, u := range users {
		for _, v := range e.hub.List(u) {
			inMemory = append(inMemory, v.ID)
			rec, ok := e.store.Get(v.ID)
			if !ok {
				t.Errorf("subscription %s of %s is not in the store", v.ID, u)
				continue
			}
			diff(t, "stored contacts of "+v.ID, v.Contacts, rec.Contacts)
		}
	}
	var stored []string
	for _, rec := range e.store.All() {
		stored = append(stored, rec.ID)
	}
	slices.Sort(inMemory)
	diff(t, "subscriptions in memory vs store", stored, inMemory)
	if st.ClientSubscriptions != len(inMemory) {
		t.Errorf("Stats.ClientSubscriptions = %d, subscriptions listed %d", st.ClientSubscriptions, len(inMemory))
	}
	wanted := wantedContacts(e.hub)
	diff(t, "wanted by the hub vs the watches", wanted, e.watches.Wanted())
	if st.WatchedContacts != len(wanted) {
		t.Errorf("Stats.WatchedContacts = %d, wanted contacts %d", st.WatchedContacts, len(wanted))
	}
	if st.Listeners != 0 {
		t.Errorf("Stats.Listeners = %d after every listener closed", st.Listeners)
	}
	// With every linger run out, each remaining contact is held by a
	// subscription.
	e.hub.mu.RLock()
	for email, c := range e.hub.contacts {
		if len(c.refs) == 0 {
			t.Errorf("contact %s outlived its linger without refs", email)
		}
	}
	e.hub.mu.RUnlock()
}
