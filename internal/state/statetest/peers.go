package statetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/status"
)

// testPeers checks that two instances sharing data see each other's
// presences, messages and leases.
func (s *suite) testPeers(t *testing.T) {
	st, _ := s.open(t)
	peer := s.peer(t, st)
	ctx := t.Context()

	p := status.Presence{Availability: status.DoNotDisturb, Note: "focus", Since: since}
	if err := st.Presence().Set(ctx, "alice@example.com", p, s.opts.TTL); err != nil {
		t.Fatalf("Set: %v", err)
	}
	got, err := peer.Presence().Get(ctx, "alice@example.com")
	if err != nil {
		t.Fatalf("peer Get: %v", err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("peer Get (-want +got):\n%s", diff)
	}

	// Both instances, the publisher included, receive the message.
	mine, theirs := newRecorder(), newRecorder()
	subscribe(t, st.Bus(), "events", mine)
	subscribe(t, peer.Bus(), "events", theirs)
	publish(t, peer.Bus(), "events", "from peer 1", "from peer 2")
	for name, r := range map[string]*recorder{"first instance": mine, "peer": theirs} {
		if diff := cmp.Diff([]string{"from peer 1", "from peer 2"}, r.waitFor(t, s.opts.Wait, "from peer 2")); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}

	ok, err := st.Leases().Acquire(ctx, "ep1", "instance-a", s.opts.TTL)
	if err != nil || !ok {
		t.Fatalf("Acquire = %v, %v; want true", ok, err)
	}
	ok, err = peer.Leases().Acquire(ctx, "ep1", "instance-b", s.opts.TTL)
	if err != nil || ok {
		t.Fatalf("peer Acquire of a held lease = %v, %v; want false", ok, err)
	}
	if owner, err := peer.Leases().Owner(ctx, "ep1"); err != nil || owner != "instance-a" {
		t.Errorf("peer Owner = %q, %v; want instance-a", owner, err)
	}
}
