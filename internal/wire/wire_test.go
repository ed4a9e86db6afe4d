package wire

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/status"
)

func TestAppendPresenceMatchesEncodingJSON(t *testing.T) {
	since := time.Date(2026, 11, 23, 10, 0, 0, 123000000, time.FixedZone("x", 3600))
	tests := []struct {
		name    string
		contact string
		p       status.Presence
	}{
		{"busy", "bob@example.com", status.Presence{Availability: status.Busy, Activity: "InAMeeting", Note: "back at 3", Since: since}},
		{"unknown reason", "eve@example.com", status.UnknownBecause(status.DomainNotAllowed)},
		{"unknown plain", "x@example.com", status.Presence{}},
		{"escapes", "a\"b\\c@example.com", status.Presence{Availability: status.Away, Note: "<b>&\n\t\x01\u2028 é \xff"}},
		{"reason ignored when known", "k@example.com", status.Presence{Availability: status.Offline, Reason: status.Pending}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(FromStatus(tt.contact, tt.p))
			if err != nil {
				t.Fatal(err)
			}
			got := AppendPresence(nil, tt.contact, tt.p)
			if string(got) != string(want) {
				t.Fatalf("AppendPresence:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestAppendEvents(t *testing.T) {
	p := AppendPresence(nil, "bob@example.com", status.Presence{Availability: status.Available})
	got := AppendPresenceEvent(nil, "s1", 17, p)
	var ev struct {
		Type         string   `json:"type"`
		Subscription string   `json:"subscription"`
		Sequence     uint64   `json:"sequence"`
		Presence     Presence `json:"presence"`
	}
	if err := json.Unmarshal(got, &ev); err != nil {
		t.Fatalf("invalid JSON %s: %v", got, err)
	}
	if ev.Type != "presence" || ev.Subscription != "s1" || ev.Sequence != 17 || ev.Presence.Code != 3500 || ev.Presence.User != "bob@example.com" {
		t.Fatalf("decoded %+v", ev)
	}
	if got, want := string(AppendExpiredEvent(nil, "s1")), `{"type":"expired","subscription":"s1"}`; got != want {
		t.Fatalf("expired = %s, want %s", got, want)
	}
}

func FuzzAppendPresence(f *testing.F) {
	f.Add("bob@example.com", "note", "act", uint8(2))
	f.Add("\xff\u2028<>", "\x00", "", uint8(0))
	f.Fuzz(func(t *testing.T, contact, note, activity string, a uint8) {
		p := status.Presence{Availability: status.Availability(a % 7), Note: note, Activity: activity}
		want, _ := json.Marshal(FromStatus(contact, p))
		if got := AppendPresence(nil, contact, p); string(got) != string(want) {
			t.Fatalf("got %s want %s", got, want)
		}
	})
}

func BenchmarkAppendPresenceEvent(b *testing.B) {
	p := status.Presence{Availability: status.Busy, Activity: "InAMeeting", Note: "back at 3", Since: time.Now()}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		pj := AppendPresence(buf[:0], "bob@example.com", p)
		_ = AppendPresenceEvent(pj[len(pj):], "0123456789abcdef", 12345, pj)
	}
}
