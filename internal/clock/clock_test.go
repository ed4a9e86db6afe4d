package clock_test

import (
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/clock/clocktest"
)

func TestTicker(t *testing.T) {
	c := clocktest.New(time.Unix(0, 0))
	ticks, stop := clock.Ticker(c, time.Second)
	c.Advance(999 * time.Millisecond)
	select {
	case <-ticks:
		t.Fatal("tick before the period")
	default:
	}
	c.Advance(time.Millisecond)
	select {
	case <-ticks:
	default:
		t.Fatal("no tick after one period")
	}
	// Unread ticks are dropped, not queued.
	c.Advance(5 * time.Second)
	<-ticks
	select {
	case <-ticks:
		t.Fatal("ticks were queued")
	default:
	}
	stop()
	if n := c.Pending(); n != 0 {
		t.Fatalf("%d timers pending after stop", n)
	}
	c.Advance(5 * time.Second)
	select {
	case <-ticks:
		t.Fatal("tick after stop")
	default:
	}
}
