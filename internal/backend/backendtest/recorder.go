package backendtest

import (
	"context"
	"fmt"
	"sync"

	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/status"
)

// Update is one call of Sink.Update.
type Update struct {
	Contact  string
	Presence status.Presence
}

// Recorder is a backend.Sink that keeps every update, in arrival order,
// and lets a test wait for one. Positions in that order ("marks", from
// Len) let a test ask about what arrived after a given moment. It is safe
// for concurrent use. The zero value is not usable; call NewRecorder.
type Recorder struct {
	mu      sync.Mutex
	updates []Update      // guarded by mu
	changed chan struct{} // guarded by mu; closed and replaced on every update
}

var _ backend.Sink = (*Recorder)(nil)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{changed: make(chan struct{})}
}

// Update records an update and wakes the waiters. It never blocks for
// long.
func (r *Recorder) Update(contact string, p status.Presence) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, Update{Contact: contact, Presence: p})
	close(r.changed)
	r.changed = make(chan struct{})
}

// Len returns the number of updates recorded so far: the mark of the next
// update.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.updates)
}

// From returns a copy of the updates recorded at mark from and later.
func (r *Recorder) From(from int) []Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	if from >= len(r.updates) {
		return nil
	}
	return append([]Update(nil), r.updates[max(from, 0):]...)
}

// Wait returns the first update at mark from or later that match accepts,
// with its mark, waiting for it until ctx is done. The error then wraps
// context.Cause(ctx).
func (r *Recorder) Wait(ctx context.Context, from int, match func(Update) bool) (Update, int, error) {
	for next := max(from, 0); ; {
		r.mu.Lock()
		for ; next < len(r.updates); next++ {
			if u := r.updates[next]; match(u) {
				r.mu.Unlock()
				return u, next, nil
			}
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Update{}, 0, fmt.Errorf("no matching update after mark %d: %w", from, context.Cause(ctx))
		}
	}
}
