package push

// SetJitter replaces p's random jitter, which must return a value in
// [0, n), so that tests know exactly when retries fall due. Call it before
// Run.
func SetJitter(p *Pusher, jitter func(n int64) int64) { p.jitter = jitter }
