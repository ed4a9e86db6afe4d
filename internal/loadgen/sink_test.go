package loadgen

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/status"
	"github.com/presenced/presenced/internal/wire"
)

// frame is a presence event exactly as presenced encodes it.
func frame(note string) []byte {
	p := wire.AppendPresence(nil, "contact-1@bench.test", status.Presence{Availability: status.Busy, Note: note, Since: time.Unix(1700000000, 0)})
	return wire.AppendPresenceEvent(nil, "0123456789abcdef01234567", 42, p)
}

func TestSinkEvent(t *testing.T) {
	const start = int64(1_700_000_000_000_000_000)
	ms := int64(time.Millisecond)
	note := func(run string, t int64) string { return run + ":" + strconv.FormatInt(t, 10) }
	tests := []struct {
		name      string
		frame     []byte
		now       int64
		want      eventKind
		delivered uint64
		latency   time.Duration
	}{
		{"measured publish", frame(note("run1", start+5*ms)), start + 8*ms, eventPresence, 1, 3 * time.Millisecond},
		{"at the window start", frame(note("run1", start)), start + ms, eventPresence, 1, time.Millisecond},
		{"warm-up publish", frame(note("run1", start-ms)), start + ms, eventPresence, 0, 0},
		{"another run", frame(note("run2", start+ms)), start + 2*ms, eventPresence, 0, 0},
		{"no note", frame(""), start, eventPresence, 0, 0},
		{"note not a time", frame("run1:soon"), start, eventPresence, 0, 0},
		{"other field order", []byte(`{"presence":{"note":"` + note("run1", start+ms) + `","user":"a@b.c"},"type":"presence"}`), start + 5*ms, eventPresence, 1, 4 * time.Millisecond},
		{"expired", wire.AppendExpiredEvent(nil, "x"), start, eventOther, 0, 0},
		{"goaway", []byte(`{"type":"goaway"}`), start, eventGoAway, 0, 0},
		{"dropped", []byte(`{"type":"dropped","reason":"slow consumer"}`), start, eventDropped, 0, 0},
		{"not JSON", []byte(`hello`), start, eventBad, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			s := newSink(&rec, "run1")
			s.start.Store(start)
			got := s.event(tt.frame, tt.now)
			if got != tt.want || rec.deliveries.Load() != tt.delivered || rec.deliveryLatency.Max() != tt.latency {
				t.Errorf("event = %v, %d deliveries, max latency %v; want %v, %d, %v",
					got, rec.deliveries.Load(), rec.deliveryLatency.Max(), tt.want, tt.delivered, tt.latency)
			}
		})
	}
}

func TestSinkNotOpen(t *testing.T) {
	var rec recorder
	s := newSink(&rec, "r")
	s.event(frame("r:5"), 10)
	if rec.deliveries.Load() != 0 {
		t.Error("an event counted before the window opened")
	}
	if s.measured(5) {
		t.Error("measured before open")
	}
	s.open(time.Unix(0, 5))
	if got := string(s.note(7)); got != "r:7" || !s.measured(5) || s.measured(4) {
		t.Errorf("note = %q, measured(5) = %v, measured(4) = %v", got, s.measured(5), s.measured(4))
	}
}

func BenchmarkSinkEvent(b *testing.B) {
	var rec recorder
	s := newSink(&rec, "deadbeef")
	s.start.Store(1)
	f := frame("deadbeef:" + strconv.FormatInt(time.Now().UnixNano(), 10))
	b.ReportAllocs()
	for b.Loop() {
		s.event(f, time.Now().UnixNano())
	}
}

func BenchmarkSinkEventJSON(b *testing.B) {
	// The encoding/json alternative, for comparison with the scan.
	f := frame("deadbeef:" + strconv.FormatInt(time.Now().UnixNano(), 10))
	b.ReportAllocs()
	for b.Loop() {
		var ev struct {
			Type     string `json:"type"`
			Presence struct {
				Note string `json:"note"`
			} `json:"presence"`
		}
		if err := json.Unmarshal(f, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPool(t *testing.T) {
	tests := []struct {
		w, c, d int
		covered int
	}{
		{5, 4, 10, 10},
		{3, 2, 10, 6},
		{7, 10, 10, 10},
		{100, 100, 1000, 1000},
	}
	for _, tt := range tests {
		p := newPool(tt.d, tt.c, 1)
		seen := map[int]bool{}
		for w := range tt.w {
			mine := map[int]bool{}
			for j := range int64(tt.c) {
				c := p.at(p.start(w) + j)
				if mine[c] {
					t.Fatalf("w=%d c=%d d=%d: watcher %d has contact %d twice", tt.w, tt.c, tt.d, w, c)
				}
				mine[c], seen[c] = true, true
			}
		}
		counts := p.watchersOf(tt.w)
		lo, hi, sum := int32(1<<30), int32(0), 0
		for _, n := range counts {
			sum += int(n)
			if n > 0 {
				lo, hi = min(lo, n), max(hi, n)
			}
		}
		if len(seen) != tt.covered || p.covered(tt.w) != tt.covered || sum != tt.w*tt.c || hi-lo > 1 {
			t.Errorf("w=%d c=%d d=%d: %d seen, covered() %d, %d pairs, watchers per contact %d..%d; want %d covered, %d pairs, balanced",
				tt.w, tt.c, tt.d, len(seen), p.covered(tt.w), sum, lo, hi, tt.covered, tt.w*tt.c)
		}
	}
	if a, b := newPool(100, 10, 1), newPool(100, 10, 1); !cmp.Equal(a.perm, b.perm) {
		t.Error("same seed, different draws")
	}
	if a, b := newPool(100, 10, 1), newPool(100, 10, 2); cmp.Equal(a.perm, b.perm) {
		t.Error("different seeds, same draw")
	}
}

func TestPoolBodies(t *testing.T) {
	p := &pool{perm: []int32{2, 0, 1}, c: 2}
	tests := []struct {
		name string
		got  []byte
		want any
	}{
		{"subscribe", p.subscribeBody(2, 2), map[string]any{"key": "bench", "users": []any{"contact-2@bench.test", "contact-3@bench.test"}}},
		{"patch add", p.patchBody(0, 0, 1, 1), map[string]any{"add": []any{"contact-1@bench.test"}}},
		{"patch both", p.patchBody(0, 1, 1, 2), map[string]any{"remove": []any{"contact-3@bench.test"}, "add": []any{"contact-1@bench.test", "contact-2@bench.test"}}},
		{"patch nothing", p.patchBody(0, 0, 0, 0), map[string]any{}},
	}
	for _, tt := range tests {
		var got any
		if err := json.Unmarshal(tt.got, &got); err != nil {
			t.Fatalf("%s: %s: %v", tt.name, tt.got, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}
