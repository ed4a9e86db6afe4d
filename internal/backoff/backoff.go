// Package backoff computes the delays of retries: exponential growth
// from a base to a cap, with jitter so that many clients failing together
// do not retry together.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Ceiling returns min(max, base·2^(attempt-1)), the largest delay of
// retry number attempt (attempts below 1 count as 1). It never overflows.
func Ceiling(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// Equal returns a delay uniform in [c/2, c] for c = Ceiling(attempt,
// base, max): "equal jitter", which keeps at least half the backoff.
func Equal(attempt int, base, max time.Duration) time.Duration {
	c := Ceiling(attempt, base, max)
	return c/2 + rand.N(c/2+1)
}
