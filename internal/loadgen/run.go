// Package loadgen is the load generator behind `presenced bench`: it
// drives a running presenced over its real client API, the way a fleet of
// apps would, and summarises what it measured together with the server's
// own metrics (RSS, backend watches, CPU, memory per idle connection). It never imports the server's
// packages; it only speaks HTTP, WebSocket and SSE to the --target and
// --admin addresses, in the notify scenario SIP over the TCP
// connections the server opens to its --sip-listen address, and in the
// xmpp scenario XMPP over the component connection the server opens to
// its --xmpp-listen address.
//
// Time is the wall clock throughout: the tool measures real elapsed time,
// and fan-out latency is receipt time minus the publish time carried in the
// presence note, which needs the publisher's and the watchers' clocks to be
// one (they are: one process).
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Users the tool creates tokens for; N counts from 1.
const (
	watcherPrefix = "watcher-"
	contactPrefix = "contact-"
	emailDomain   = "@bench.test"
	// subscriptionKey is the key of every bench subscription, so that a
	// second run replaces the subscriptions of a first one left with --keep.
	subscriptionKey = "bench"
)

// cleanupTimeout bounds deleting the subscriptions at the end of a run.
const cleanupTimeout = 30 * time.Second

// Run executes cfg's scenario and returns its summary, also when ctx is
// canceled midway (Summary.Interrupted) or the run fails (the error says
// why; the summary shows what ran). Progress lines and warnings go to
// progress.
func Run(ctx context.Context, cfg Config, progress io.Writer) (Summary, error) {
	r := &runner{cfg: cfg, c: newClient(cfg), out: progress, started: time.Now(), waiting: -1}
	r.pool = newPool(cfg.Distinct, cfg.Contacts, cfg.Seed)
	defer r.c.close()
	r.setPhase("starting")

	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if cfg.Progress > 0 {
		wg.Go(func() { r.progressLoop(pctx) })
	}
	var err error
	switch cfg.Scenario {
	case Subscribe:
		err = r.runSubscribe(ctx)
	case Fanout:
		err = r.runFanout(ctx)
	case Lookup:
		err = r.runLookup(ctx)
	case Churn:
		err = r.runChurn(ctx)
	case Idle:
		err = r.runIdle(ctx)
	case Notify:
		err = r.runNotify(ctx)
	case XMPP:
		err = r.runXMPP(ctx)
	default:
		err = fmt.Errorf("unknown scenario %q", cfg.Scenario)
	}
	stop()
	wg.Wait()
	interrupted := ctx.Err() != nil
	if interrupted && errors.Is(err, context.Canceled) {
		err = nil // the summary says it was interrupted
	}
	sum := r.summary(interrupted)
	if err != nil {
		sum.Error = err.Error()
	}
	return sum, err
}

// runner is the state of one run.
type runner struct {
	cfg     Config
	c       *client
	out     io.Writer
	pool    *pool
	started time.Time
	phase   atomic.Pointer[string]
	rec     recorder

	// Set by the scenario, read by summary after it returned.
	measureStart, measureEnd time.Time
	subscribeTime            time.Duration // subscribe: time to make every pair
	before, after            Metrics       // server metrics around the window
	expectWatches            int           // backend watches the run should cause
	waiting                  int           // wanted contacts without endpoint capacity; -1 unknown
	cleanup                  *Cleanup
	idle                     *IdleStats                 // idle: all but HandshakeLatency
	handshakes               Histogram                  // idle: dial + upgrade of the opened streams
	idleConns                atomic.Pointer[idleConns]  // idle: the streams, for progress
	sip                      atomic.Pointer[sipServer]  // notify: the SIP server, for progress and summary
	sipDialogs               int                        // notify: dialogs held when the window opened
	xmpp                     atomic.Pointer[xmppServer] // xmpp: the component port, for progress and summary

	mu       sync.Mutex
	warnings []string // guarded by mu
	warned   map[string]bool
}

func (r *runner) setPhase(p string) { r.phase.Store(&p) }

// warn records a warning for the summary and prints it at once; a
// warning is recorded once.
func (r *runner) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.warned[msg] {
		return
	}
	if r.warned == nil {
		r.warned = map[string]bool{}
	}
	r.warned[msg] = true
	r.warnings = append(r.warnings, msg)
	fmt.Fprintf(r.out, "warning: %s\n", msg)
}

// beginMeasure opens the measured window: from now on operations count.
func (r *runner) beginMeasure() {
	r.measureStart = time.Now()
	r.rec.measuring.Store(true)
	r.setPhase("measuring")
}

// endMeasure closes the measured window.
func (r *runner) endMeasure() {
	r.rec.measuring.Store(false)
	r.measureEnd = time.Now()
}

// snapshot reads the server metrics, or warns and returns nil.
func (r *runner) snapshot(ctx context.Context) Metrics {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	m, err := r.c.scrape(ctx)
	if err != nil {
		r.warn("server metrics not read: %v", err)
		return nil
	}
	return m
}

// settledSnapshot reads the server metrics once the backend watch count
// reaches r.expectWatches and, with idle, no wanted contact waits for
// endpoint capacity any more (watches are established asynchronously, and
// lingering watches of an earlier run may hold the capacity for
// presence.watch_linger). It gives up after wait.
func (r *runner) settledSnapshot(ctx context.Context, wait time.Duration, idle bool) Metrics {
	deadline := time.Now().Add(wait)
	for {
		m := r.snapshot(ctx)
		r.readWaiting(ctx)
		settled := m != nil && int(m[metricEndpointUsed]) >= r.expectWatches && (!idle || r.waiting <= 0)
		if m == nil || settled || time.Now().After(deadline) || ctx.Err() != nil {
			return m
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return m
		}
	}
}

// finalSnapshot reads the server metrics and waiting contacts at the end
// of the window.
func (r *runner) finalSnapshot(ctx context.Context) Metrics {
	m := r.snapshot(ctx)
	r.readWaiting(ctx)
	return m
}

// readWaiting records the admin stats' waiting_contacts (-1 when unread).
func (r *runner) readWaiting(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	r.waiting = -1
	if st, err := r.c.adminStats(ctx); err == nil {
		if w, ok := st["waiting_contacts"]; ok {
			r.waiting = int(w)
		}
	}
}

// progressLoop prints a progress line every cfg.Progress until ctx ends.
func (r *runner) progressLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.Progress)
	defer t.Stop()
	prevOps, prevDel, prev := uint64(0), uint64(0), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if ic := r.idleConns.Load(); ic != nil {
				fmt.Fprintf(r.out, "[%7.1fs] %-24s streams open %d  ended %d  errors %d\n",
					now.Sub(r.started).Seconds(), *r.phase.Load(), ic.open(), ic.ended.Load(), r.rec.errTotal.Load())
				continue
			}
			ops, del := r.rec.totalOps(), r.rec.deliveries.Load()
			dt := now.Sub(prev).Seconds()
			if srv := r.xmpp.Load(); srv != nil { // presences sent instead of client calls
				ops = srv.counts.sentTotal.Load()
				fmt.Fprintf(r.out, "[%7.1fs] %-12s presences sent %d (%.0f/s)  streams authenticated %d  deliveries %d (%.0f/s)  errors %d\n",
					now.Sub(r.started).Seconds(), *r.phase.Load(), ops, float64(ops-prevOps)/dt, srv.counts.authenticated.Load(),
					del, float64(del-prevDel)/dt, r.rec.errTotal.Load())
			} else if srv := r.sip.Load(); srv != nil { // NOTIFYs answered instead of client calls
				ops = srv.counts.ok.Load() + srv.counts.other.Load()
				dialogs, _ := srv.dialogCount()
				fmt.Fprintf(r.out, "[%7.1fs] %-16s notifies answered %d (%.0f/s)  in flight %d  dialogs %d  deliveries %d (%.0f/s)  errors %d\n",
					now.Sub(r.started).Seconds(), *r.phase.Load(), ops, float64(ops-prevOps)/dt, srv.inFlight(), dialogs,
					del, float64(del-prevDel)/dt, r.rec.errTotal.Load())
			} else {
				fmt.Fprintf(r.out, "[%7.1fs] %-12s ops %d (%.0f/s)  deliveries %d (%.0f/s)  errors %d\n",
					now.Sub(r.started).Seconds(), *r.phase.Load(), ops, float64(ops-prevOps)/dt,
					del, float64(del-prevDel)/dt, r.rec.errTotal.Load())
			}
			prevOps, prevDel, prev = ops, del, now
		}
	}
}

// mint creates n tokens for users prefix-1.. with a bounded pool.
func (r *runner) mint(ctx context.Context, prefix string, n int) ([]string, error) {
	tokens := make([]string, n)
	var done atomic.Int64
	err := forEach(ctx, n, min(r.cfg.Concurrency, 16), func(ctx context.Context, i int) error {
		var err error
		err = retrySetup(ctx, func() error {
			tokens[i], err = r.c.mintToken(ctx, email(prefix, i))
			return err
		})
		r.setPhase(fmt.Sprintf("tokens %d/%d", done.Add(1), n))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("minting %s tokens: %w", prefix+"N"+emailDomain, err)
	}
	return tokens, nil
}

// email names user i (from 0) of a prefix: prefix-(i+1)@bench.test.
func email(prefix string, i int) string { return string(appendEmail(nil, prefix, i)) }

// setupContext bounds the preparation of a run by --setup-timeout.
func (r *runner) setupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, r.cfg.SetupTimeout, fmt.Errorf("setup took longer than --setup-timeout %v", r.cfg.SetupTimeout))
}

// setupErr explains a setup failure, naming the timeout when it struck.
func setupErr(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) && errors.Is(err, context.DeadlineExceeded) {
		return c
	}
	return err
}

// retrySetup runs f, retrying while the server answers 429 or 503 (at
// most 50 times): preparing a run must not fail on rate limits.
func retrySetup(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		var ce *callError
		if err == nil || attempt == 50 || !errors.As(err, &ce) || (ce.Status != 429 && ce.Status != 503) {
			return err
		}
		if !sleep(ctx, min(max(ce.RetryAfter, 100*time.Millisecond), 2*time.Second)) {
			return ctx.Err()
		}
	}
}

// forEach calls fn for 0..n-1 on at most workers goroutines and returns
// the first error, which stops the others; it returns ctx's error when ctx
// ends first.
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
