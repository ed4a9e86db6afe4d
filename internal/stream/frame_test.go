package stream

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/status"
)

func noteJSON(note string) string {
	if note == "" {
		return ""
	}
	return `,"note":"` + note + `"`
}

func TestAppendTextFrame(t *testing.T) {
	tests := []struct {
		n      int
		header []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, tt := range tests {
		payload := bytes.Repeat([]byte{'x'}, tt.n)
		got := appendTextFrame([]byte("prefix"), payload)
		want := append(append([]byte("prefix"), tt.header...), payload...)
		if !bytes.Equal(got, want) {
			t.Errorf("len %d: header %v, want %v", tt.n, got[6:6+len(tt.header)], tt.header)
		}
	}
}

// TestWebSocketBatchIsFramesInOrder offers many events before the client
// reads, so they are written as gathered frames, and checks every frame
// arrives intact and in order.
func TestWebSocketBatchIsFramesInOrder(t *testing.T) {
	e := newEnv(t, Config{QueueSize: 4096})
	c := e.dial(t)
	l := e.hub.next(t)
	var want []string
	for i := range 2000 {
		// Notes of varied length exercise all three frame-length forms.
		note := strings.Repeat("n", (i*37)%300)
		if i == 1000 {
			note = strings.Repeat("N", 70000)
		}
		ev := changed("s1", uint64(i+1), "bob@example.com", status.Presence{Availability: status.Busy, Note: note})
		js := fmt.Sprintf(`{"type":"presence","subscription":"s1","sequence":%d,"presence":{"user":"bob@example.com","availability":"Busy","code":6000%s}}`, i+1, noteJSON(note))
		if !l.Offer(ev) {
			t.Fatal("listener dropped")
		}
		want = append(want, js)
	}
	var got []string
	for range want {
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d frames: %v", len(got), err)
		}
		got = append(got, string(msg))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
}
