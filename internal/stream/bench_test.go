package stream

import (
	"runtime"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/presence"
	"github.com/presenced/presenced/internal/status"
)

func BenchmarkEncodeEvent(b *testing.B) {
	p := status.Presence{
		Availability: status.Busy,
		Activity:     "InAMeeting",
		Note:         "back at 3",
		Since:        time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
	}
	// cached: one change fanned out to many streams, encoded once.
	b.Run("presence/cached", func(b *testing.B) {
		ev := changed("0123456789abcdef", 17, "bob@example.com", p)
		buf := make([]byte, 0, 512)
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = appendEvent(buf[:0], ev)
		}
	})
	// fresh: a new change every time, as for a stream's first delivery.
	b.Run("presence/fresh", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		b.ReportAllocs()
		for b.Loop() {
			ev := presence.Event{
				Kind: presence.PresenceChanged, Subscription: "0123456789abcdef", Sequence: 17,
				Change: &presence.Change{Contact: "bob@example.com", Presence: p},
			}
			buf, _ = appendEvent(buf[:0], ev)
		}
	})
	b.Run("expired", func(b *testing.B) {
		ev := expired("0123456789abcdef")
		buf := make([]byte, 0, 512)
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = appendEvent(buf[:0], ev)
		}
	})
}

// BenchmarkWebSocketThroughput pushes b.N events through one WebSocket
// connection to a client reading them, over loopback.
func BenchmarkWebSocketThroughput(b *testing.B) {
	const queue = 1024
	e := newEnv(b, Config{QueueSize: queue})
	conn := e.dial(b)
	l := e.hub.next(b)
	change := &presence.Change{
		Contact:  "bob@example.com",
		Presence: status.Presence{Availability: status.Busy, Activity: "InAMeeting"},
	}

	n := b.N
	read := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if _, _, err := conn.ReadMessage(); err != nil {
				read <- err
				return
			}
		}
		read <- nil
	}()

	b.ReportAllocs()
	b.ResetTimer()
	for seq := uint64(1); seq <= uint64(n); seq++ {
		// Keep the queue from overflowing: the benchmark measures the
		// stream, not the drop policy.
		for l.Len() > queue/2 {
			runtime.Gosched()
		}
		if !l.Offer(presence.Event{Kind: presence.PresenceChanged, Subscription: "s1", Sequence: seq, Change: change}) {
			b.Fatal("listener dropped")
		}
	}
	if err := <-read; err != nil {
		b.Fatalf("read: %v", err)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
