package loadgen

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// opKind is the kind of a measured client call.
type opKind int

const (
	opCreate opKind = iota
	opReplace
	opPatch
	opRefresh
	opDelete
	opQuery
	opPublish
	numOpKinds
)

var opNames = [numOpKinds]string{"create", "replace", "patch", "refresh", "delete", "query", "publish"}

// recorder counts what a run did inside its measured window. It is safe
// for concurrent use.
type recorder struct {
	measuring atomic.Bool // calls count only while set

	ops        [numOpKinds]atomic.Uint64
	pairs      atomic.Uint64 // watcher–contact pairs subscribed
	lookups    atomic.Uint64 // contacts answered by queries
	deliveries atomic.Uint64 // events of measured publishes received
	expected   atomic.Uint64 // deliveries the measured publishes should cause
	published  atomic.Uint64 // measured publishes that succeeded
	errTotal   atomic.Uint64

	reqLatency      Histogram // every measured call
	deliveryLatency Histogram // publish to receipt

	mu          sync.Mutex
	byCode      map[string]uint64 // guarded by mu
	byTransport map[string]uint64 // guarded by mu
}

// totalOps returns the number of measured calls so far.
func (r *recorder) totalOps() uint64 {
	var n uint64
	for i := range r.ops {
		n += r.ops[i].Load()
	}
	return n
}

// done records a call of kind k that took d and ended with err, when
// measuring; it reports whether it counted.
func (r *recorder) done(k opKind, d time.Duration, err error) bool {
	if !r.measuring.Load() {
		return false
	}
	if err != nil && errors.Is(err, context.Canceled) {
		return false // the run is stopping; not the server's doing
	}
	r.ops[k].Add(1)
	r.reqLatency.Record(d)
	if err != nil {
		r.fail(err)
	}
	return true
}

// fail counts an error by problem code or transport class.
func (r *recorder) fail(err error) {
	r.errTotal.Add(1)
	code, class := errorKeys(err)
	r.mu.Lock()
	defer r.mu.Unlock()
	if code != "" {
		if r.byCode == nil {
			r.byCode = map[string]uint64{}
		}
		r.byCode[code]++
	}
	if class != "" {
		if r.byTransport == nil {
			r.byTransport = map[string]uint64{}
		}
		r.byTransport[class]++
	}
}

// failClass counts a stream failure of the given class.
func (r *recorder) failClass(class string) {
	r.fail(&callError{Class: class, Err: errors.New(class)})
}

// errors returns copies of the error counts.
func (r *recorder) errorCounts() (byCode, byTransport map[string]uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	byCode, byTransport = map[string]uint64{}, map[string]uint64{}
	for k, v := range r.byCode {
		byCode[k] = v
	}
	for k, v := range r.byTransport {
		byTransport[k] = v
	}
	return byCode, byTransport
}

// errorKeys returns the problem code (an answer) or the transport class
// (no answer) of err.
func errorKeys(err error) (code, class string) {
	var ce *callError
	if !errors.As(err, &ce) {
		return "", "other"
	}
	if ce.Status != 0 {
		return ce.Code, ""
	}
	return "", ce.Class
}

// pause waits after a rate-limited or busy answer so that a closed loop
// does not spin on 429s: the Retry-After, at most 1 s.
func pause(ctx context.Context, err error) {
	var ce *callError
	if errors.As(err, &ce) && (ce.Status == 429 || ce.Status == 503) {
		sleep(ctx, min(max(ce.RetryAfter, 10*time.Millisecond), time.Second))
	}
}

// measure runs call as a measured operation of kind k, records it, warns
// about rate limiting, and returns its error. A call that fails because
// ctx ended is not counted.
func (r *runner) measure(ctx context.Context, k opKind, call func() error) error {
	t := time.Now()
	err := call()
	if err != nil && ctx.Err() != nil {
		return err // cut short by the end of the window or an interrupt: not counted
	}
	r.rec.done(k, time.Since(t), err)
	if err != nil {
		var ce *callError
		if errors.As(err, &ce) && ce.Code == "rate_limited" {
			r.warn("the server rate limits the bench tokens (429 rate_limited): run it with auth.rate_limit.requests_per_second: 0")
		}
		pause(ctx, err)
	}
	return err
}
