package backoff

import (
	"testing"
	"time"
)

func TestCeiling(t *testing.T) {
	const base, max = 500 * time.Millisecond, time.Minute
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{-1, base}, {0, base}, {1, base}, {2, time.Second}, {3, 2 * time.Second},
		{7, 32 * time.Second}, {8, max}, {1000, max},
	}
	for _, tt := range tests {
		if got := Ceiling(tt.attempt, base, max); got != tt.want {
			t.Errorf("Ceiling(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
	// A large base does not overflow.
	if got := Ceiling(100, time.Hour, 1<<62); got != 1<<62 {
		t.Errorf("Ceiling with a large base = %v, want the cap", got)
	}
}

func TestEqualStaysInHalfToCeiling(t *testing.T) {
	for attempt := 1; attempt <= 12; attempt++ {
		c := Ceiling(attempt, time.Second, time.Minute)
		for range 100 {
			if d := Equal(attempt, time.Second, time.Minute); d < c/2 || d > c {
				t.Fatalf("Equal(%d) = %v, outside [%v, %v]", attempt, d, c/2, c)
			}
		}
	}
}
