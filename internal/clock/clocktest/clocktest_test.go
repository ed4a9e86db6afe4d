package clocktest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAdvanceRunsDueCallbacksInOrder(t *testing.T) {
	start := time.Unix(1000, 0)
	c := New(start)
	var got []string
	c.AfterFunc(3*time.Second, func() { got = append(got, "3s") })
	c.AfterFunc(1*time.Second, func() {
		got = append(got, "1s")
		c.AfterFunc(time.Second, func() { got = append(got, "1s+1s") })
	})
	stopped := c.AfterFunc(2*time.Second, func() { got = append(got, "stopped") })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	if stopped.Stop() {
		t.Fatal("second Stop reported true")
	}
	c.Advance(2500 * time.Millisecond)
	if diff := cmp.Diff([]string{"1s", "1s+1s"}, got); diff != "" {
		t.Fatalf("after 2.5s (-want +got):\n%s", diff)
	}
	if want := start.Add(2500 * time.Millisecond); !c.Now().Equal(want) {
		t.Fatalf("Now = %v, want %v", c.Now(), want)
	}
	if c.Pending() != 1 {
		t.Fatalf("Pending = %d, want 1", c.Pending())
	}
	c.Advance(time.Second)
	if diff := cmp.Diff([]string{"1s", "1s+1s", "3s"}, got); diff != "" {
		t.Fatalf("after 3.5s (-want +got):\n%s", diff)
	}
}

func TestCallbackSeesItsDeadline(t *testing.T) {
	start := time.Unix(0, 0)
	c := New(start)
	var at time.Time
	c.AfterFunc(time.Minute, func() { at = c.Now() })
	c.Advance(time.Hour)
	if want := start.Add(time.Minute); !at.Equal(want) {
		t.Fatalf("callback saw %v, want %v", at, want)
	}
}
