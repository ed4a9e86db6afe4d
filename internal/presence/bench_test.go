package presence

import (
	"fmt"
	"testing"

	"github.com/presenced/presenced/internal/status"
)

// BenchmarkFanOut measures one contact's change delivered to N
// subscriptions, each of its own user with its own listener. Every
// iteration drains every queue, so the work counted is the full delivery.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			e := newEnv(b)
			listeners := make([]*Listener, n)
			for i := range n {
				u := fmt.Sprintf("user%d@x.com", i)
				listeners[i] = e.hub.Listen(u, 4)
				e.subscribe(u, "", "x@x.com")
			}
			defer func() {
				for _, l := range listeners {
					l.Close()
				}
			}()
			bufs := make([][]Event, n)
			states := [2]status.Presence{{Availability: status.Available}, {Availability: status.Busy}}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				e.hub.Update("x@x.com", states[i%2])
				for j, l := range listeners {
					// Consumers swap buffers with their listener, as the
					// stream's pump does.
					bufs[j] = l.Drain(bufs[j][:0])
					if len(bufs[j]) == 0 {
						b.Fatalf("listener %s got nothing", l.User())
					}
					clear(bufs[j])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
		})
	}
}

// BenchmarkSubscribeReplace measures replacing a 100-contact subscription
// by key with a list that shares half its contacts.
func BenchmarkSubscribeReplace(b *testing.B) {
	e := newEnv(b)
	lists := [2][]string{}
	for i := range 100 {
		lists[0] = append(lists[0], fmt.Sprintf("c%d@x.com", i))
		lists[1] = append(lists[1], fmt.Sprintf("c%d@x.com", i+50))
	}
	e.subscribe("alice", "k", lists[0]...)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, err := e.hub.Subscribe(bg, SubscribeRequest{User: "alice", Key: "k", Contacts: lists[i%2]}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChangesSince measures a delta read of a 100-contact
// subscription in which 10 contacts changed.
func BenchmarkChangesSince(b *testing.B) {
	e := newEnv(b)
	var contacts []string
	for i := range 100 {
		contacts = append(contacts, fmt.Sprintf("c%d@x.com", i))
	}
	v := e.subscribe("alice", "k", contacts...)
	for i := range 10 {
		e.hub.Update(contacts[i*10], available)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, err := e.hub.ChangesSince("alice", v.ID, v.Sequence)
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Presence) != 10 {
			b.Fatalf("%d changes, want 10", len(c.Presence))
		}
	}
}
