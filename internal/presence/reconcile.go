package presence

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/backoff"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/endpoint"
	"github.com/presenced/presenced/internal/status"
)

// Reconciler carries out the Hub's wishes on the backend: it places each
// wanted contact on an application endpoint (fill-first), asks the backend
// to watch it there, retries failures with jittered backoff, queues
// contacts for which no endpoint has room (reporting them Unknown,
// no_capacity) and places them, in order, as soon as room frees.
//
// It is level-triggered: SetWanted only records the wish and wakes the
// loop, so rapid want/unwant churn collapses to the final state. Contacts
// are reconciled in the order their wishes first arrived, so placement
// follows the order in which the Hub asked for watches.
type Reconciler struct {
	backend backend.Backend
	pool    *endpoint.Pool
	sink    backend.Sink
	clk     clock.Clock
	log     *slog.Logger

	mu      sync.Mutex
	wanted  map[string]bool             // guarded by mu: the Hub's current wishes
	dirty   []string                    // guarded by mu: FIFO of contacts to reconcile
	isDirty map[string]bool             // guarded by mu: members of dirty
	placed  map[string]backend.Endpoint // guarded by mu: established watches
	waiting []string                    // guarded by mu: FIFO of wanted contacts without capacity
	queued  map[string]bool             // guarded by mu: members of waiting
	retries map[string]*retry           // guarded by mu
	kick    chan struct{}
}

type retry struct {
	attempt int
	timer   clock.Timer
}

// Backoff bounds for failed watches.
const (
	retryBase = 500 * time.Millisecond
	retryMax  = time.Minute
)

// NewReconciler returns a Reconciler reporting placement states to sink
// (normally the Hub).
func NewReconciler(b backend.Backend, pool *endpoint.Pool, sink backend.Sink, clk clock.Clock, logger *slog.Logger) *Reconciler {
	return &Reconciler{
		backend: b, pool: pool, sink: sink, clk: clk, log: logger,
		wanted:  make(map[string]bool),
		isDirty: make(map[string]bool),
		placed:  make(map[string]backend.Endpoint),
		queued:  make(map[string]bool),
		retries: make(map[string]*retry),
		kick:    make(chan struct{}, 1),
	}
}

// SetSink sets the sink placement states are reported to. It must be
// called before Run (the Hub and the Reconciler refer to each other).
func (r *Reconciler) SetSink(s backend.Sink) { r.sink = s }

// SetWanted records whether contact should be watched. It never blocks.
func (r *Reconciler) SetWanted(contact string, wanted bool) {
	r.mu.Lock()
	if wanted {
		r.wanted[contact] = true
	} else {
		delete(r.wanted, contact)
	}
	r.markDirtyLocked(contact)
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run reconciles until ctx is done, then unwatches everything it placed.
func (r *Reconciler) Run(ctx context.Context) error {
	for {
		r.Reconcile(ctx)
		select {
		case <-ctx.Done():
			r.stop()
			return nil
		case <-r.kick:
		}
	}
}

// Reconcile processes every pending change once, then hands free endpoint
// slots to waiting contacts, in order. It is called by Run; tests may call
// it directly instead of running Run.
func (r *Reconciler) Reconcile(ctx context.Context) {
	for ctx.Err() == nil {
		contact, ok := r.next()
		if !ok {
			if !r.promote() {
				return
			}
			continue
		}
		r.reconcileOne(ctx, contact)
	}
}

func (r *Reconciler) markDirtyLocked(contact string) {
	if !r.isDirty[contact] {
		r.isDirty[contact] = true
		r.dirty = append(r.dirty, contact)
	}
}

func (r *Reconciler) next() (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.dirty) == 0 {
		return "", false
	}
	c := r.dirty[0]
	r.dirty[0] = ""
	r.dirty = r.dirty[1:]
	delete(r.isDirty, c)
	return c, true
}

func (r *Reconciler) reconcileOne(ctx context.Context, contact string) {
	r.mu.Lock()
	wanted := r.wanted[contact]
	ep, placed := r.placed[contact]
	r.mu.Unlock()
	switch {
	case wanted && !placed:
		r.place(ctx, contact)
	case !wanted && placed:
		if err := r.backend.Unwatch(ctx, ep, contact); err != nil {
			r.log.Warn("unwatch failed", "endpoint", ep.ID, "err", err)
		}
		r.pool.Release(ep)
		r.mu.Lock()
		delete(r.placed, contact)
		r.mu.Unlock()
	case !wanted:
		r.mu.Lock()
		r.cancelRetryLocked(contact)
		r.unqueueLocked(contact)
		r.mu.Unlock()
	}
}

func (r *Reconciler) place(ctx context.Context, contact string) {
	ep, ok := r.pool.Acquire()
	if !ok {
		r.mu.Lock()
		if !r.queued[contact] {
			r.queued[contact] = true
			r.waiting = append(r.waiting, contact)
		}
		r.mu.Unlock()
		r.sink.Update(contact, status.UnknownBecause(status.NoCapacity))
		return
	}
	if err := r.backend.Watch(ctx, ep, contact); err != nil {
		r.pool.Release(ep)
		r.sink.Update(contact, status.UnknownBecause(status.BackendError))
		r.mu.Lock()
		r.unqueueLocked(contact) // it waits for its retry now, not for room
		d := r.scheduleRetryLocked(contact)
		r.mu.Unlock()
		r.log.Warn("watch failed; retrying", "endpoint", ep.ID, "retry_in", d, "err", err)
		return
	}
	r.mu.Lock()
	r.placed[contact] = ep
	r.unqueueLocked(contact)
	r.cancelRetryLocked(contact)
	r.mu.Unlock()
}

// promote marks waiting contacts for placement, oldest first, as many as
// the pool has free slots, and reports whether it marked any. A promoted
// contact keeps its place in the queue until it is placed, so a slot taken
// meanwhile by another contact does not send it to the back. Contacts no
// longer wanted are dropped from the queue.
func (r *Reconciler) promote() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.waiting) == 0 {
		return false
	}
	free := 0
	for _, u := range r.pool.Usage() {
		free += u.Max - u.Used
	}
	marked := false
	for i := 0; i < len(r.waiting) && free > 0; {
		c := r.waiting[i]
		if _, placed := r.placed[c]; placed || !r.wanted[c] {
			r.waiting = slices.Delete(r.waiting, i, i+1)
			delete(r.queued, c)
			continue
		}
		if !r.isDirty[c] {
			r.markDirtyLocked(c)
			marked = true
		}
		free--
		i++
	}
	return marked
}

// unqueueLocked removes contact from the waiting queue, if it is there.
func (r *Reconciler) unqueueLocked(contact string) {
	if !r.queued[contact] {
		return
	}
	delete(r.queued, contact)
	if i := slices.Index(r.waiting, contact); i >= 0 {
		r.waiting = slices.Delete(r.waiting, i, i+1)
	}
}

func (r *Reconciler) scheduleRetryLocked(contact string) time.Duration {
	rt := r.retries[contact]
	if rt == nil {
		rt = &retry{}
		r.retries[contact] = rt
	}
	if rt.timer != nil {
		rt.timer.Stop() // an earlier retry is superseded by this one
	}
	rt.attempt++
	d := backoff.Equal(rt.attempt, retryBase, retryMax)
	rt.timer = r.clk.AfterFunc(d, func() {
		r.mu.Lock()
		live := r.retries[contact] == rt
		r.mu.Unlock()
		if live {
			r.SetWanted(contact, r.isWanted(contact))
		}
	})
	return d
}

func (r *Reconciler) cancelRetryLocked(contact string) {
	if rt := r.retries[contact]; rt != nil {
		if rt.timer != nil {
			rt.timer.Stop()
		}
		delete(r.retries, contact)
	}
}

func (r *Reconciler) isWanted(contact string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wanted[contact]
}

// Waiting returns the number of wanted contacts without capacity.
func (r *Reconciler) Waiting() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.waiting)
}

// Placed returns the number of established watches.
func (r *Reconciler) Placed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.placed)
}

// stop unwatches every placed contact (best effort, bounded).
func (r *Reconciler) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.mu.Lock()
	placed := r.placed
	r.placed = make(map[string]backend.Endpoint)
	for c := range r.retries {
		r.cancelRetryLocked(c)
	}
	r.mu.Unlock()
	for c, ep := range placed {
		if err := r.backend.Unwatch(ctx, ep, c); err != nil && ctx.Err() == nil {
			r.log.Debug("unwatch at shutdown", "endpoint", ep.ID, "err", err)
		}
		r.pool.Release(ep)
	}
}
