package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// How long fanout waits for the last events after publishing stops: until
// every expected event arrived, or none arrived for drainQuiet, or
// drainMax passed.
const (
	drainQuiet = 2 * time.Second
	drainMax   = 15 * time.Second
)

// runFanout: W watchers subscribe and connect their streams; publishers
// publish --rate changes/s round-robin over the D contacts for --warmup,
// then for the measured --duration; every watcher times every event of a
// measured publish.
func (r *runner) runFanout(ctx context.Context) error {
	sctx, cancel := r.setupContext(ctx)
	defer cancel()
	watchers, err := r.mint(sctx, watcherPrefix, r.cfg.Watchers)
	if err != nil {
		return setupErr(sctx, err)
	}
	contacts, err := r.mint(sctx, contactPrefix, r.cfg.Distinct)
	if err != nil {
		return setupErr(sctx, err)
	}
	subs := make([]watcherSub, r.cfg.Watchers)
	defer r.deleteAll(ctx, watchers, subs)
	r.setPhase("subscribing")
	err = forEach(sctx, r.cfg.Watchers, r.cfg.Concurrency, func(ctx context.Context, w int) error {
		return r.subscribeWatcher(ctx, watchers[w], w, &subs[w], false)
	})
	if err != nil {
		return setupErr(sctx, fmt.Errorf("preparing subscriptions: %w", err))
	}
	base := r.snapshot(ctx)
	r.before = base
	r.expectWatches = r.expectedWatches(r.pool.covered(r.cfg.Watchers))

	s := newSink(&r.rec, runID())
	ss := &streams{}
	defer ss.stop()
	r.setPhase("connecting")
	err = forEach(sctx, r.cfg.Watchers, r.cfg.Concurrency, func(cctx context.Context, w int) error {
		var err error
		if r.cfg.Transport == TransportSSE {
			err = r.connectSSE(cctx, ctx, ss, watchers[w], s)
		} else {
			err = r.connectWebSocket(cctx, ss, watchers[w], s)
		}
		if err != nil {
			return fmt.Errorf("stream of %s: %w", email(watcherPrefix, w), err)
		}
		return nil
	})
	if err != nil {
		return setupErr(sctx, fmt.Errorf("connecting streams: %w", err))
	}
	cancel()
	r.waitWatches(ctx)

	p := &publisher{r: r, tokens: contacts, watchersOf: r.pool.watchersOf(r.cfg.Watchers), sink: s}
	if r.cfg.Warmup > 0 {
		r.setPhase("warming up")
		p.run(ctx, r.cfg.Warmup)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.before = r.snapshot(ctx)
	r.beginMeasure()
	s.open(r.measureStart)
	p.run(ctx, r.cfg.Duration)
	r.endMeasure()
	r.drain(ctx)
	r.after = r.finalSnapshot(ctx)
	r.checkFanout(base)
	ss.stop()
	return nil
}

// runID returns a random run id for the publish notes.
func runID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// waitWatches waits until the backend holds the expected watches and no
// contact waits for endpoint capacity, so that the publishes find every
// watch established: at most 30 s, longer than the default watch linger.
func (r *runner) waitWatches(ctx context.Context) {
	r.setPhase("watches")
	m := r.settledSnapshot(ctx, 30*time.Second, true)
	if m != nil && int(m[metricEndpointUsed]) < r.expectWatches {
		r.warn("the backend holds %d watches, fewer than the %d expected", int(m[metricEndpointUsed]), r.expectWatches)
	}
	if r.waiting > 0 {
		r.warn("%d contacts wait for endpoint capacity (no_capacity), and their events are lost: raise backend.max_subscriptions_per_endpoint, add backend.endpoints, or let the watches of an earlier run linger out (presence.watch_linger)", r.waiting)
	}
}

// drain waits for the events of the last publishes.
func (r *runner) drain(ctx context.Context) {
	r.setPhase("draining")
	deadline := time.Now().Add(drainMax)
	last, quietSince := r.rec.deliveries.Load(), time.Now()
	for r.rec.deliveries.Load() < r.rec.expected.Load() && time.Now().Before(deadline) {
		if !sleep(ctx, 20*time.Millisecond) {
			return
		}
		if n := r.rec.deliveries.Load(); n != last {
			last, quietSince = n, time.Now()
		} else if time.Since(quietSince) > drainQuiet {
			return
		}
	}
}

// checkFanout warns about what makes the figures misleading, and says
// where lost events went missing: before the hub (coalesced, or lost on
// the way from the publish), between the hub and the streams, or in them.
func (r *runner) checkFanout(base Metrics) {
	got, want := r.rec.deliveries.Load(), r.rec.expected.Load()
	if base != nil && r.after != nil {
		if d := r.after[metricCoalesced] - base[metricCoalesced]; d > 0 {
			r.warn("the server coalesced %.0f updates: run it with a small presence.coalesce_interval (0 delivers every change)", d)
		}
	}
	if want > 0 && got < want {
		r.warn("%d of %d expected events arrived: %s", got, want, r.whereLost(want))
	}
	if d := r.measureEnd.Sub(r.measureStart).Seconds(); d > 0 {
		if achieved := float64(r.rec.ops[opPublish].Load()) / d; achieved < 0.9*r.cfg.Rate {
			r.warn("publishers reached %.0f/s of --rate %.0f: raise --concurrency, or the server is saturated", achieved, r.cfg.Rate)
		}
	}
}

// whereLost reads the server counters of the measured window to place the
// loss of events.
func (r *runner) whereLost(want uint64) string {
	if r.before == nil || r.after == nil {
		return "server metrics not read"
	}
	delta := func(name string) uint64 { return uint64(max(r.after[name]-r.before[name], 0)) }
	published := r.rec.published.Load()
	switch changes, queued := delta(metricChanges), delta(metricDeliveries); {
	case delta(metricCoalesced) > 0:
		return "the server coalesces changes (presence.coalesce_interval)"
	case changes < published:
		return fmt.Sprintf("the server's hub saw %d of %d published changes (%s): lost between PUT /v1/me/presence and the hub, or coalesced (presence.coalesce_interval)", changes, published, metricChanges)
	case queued < want:
		return fmt.Sprintf("the server queued %d events to its stream listeners (%s, listener drops %d)", queued, metricDeliveries, delta(metricListenerDrops))
	}
	return fmt.Sprintf("lost in the streams (stream drops %d)", delta(metricStreamDrops))
}

// publisher publishes presence changes round-robin over the contacts,
// alternating each contact's availability so every publish is a change.
type publisher struct {
	r          *runner
	tokens     []string // of the contacts
	watchersOf []int32  // per contact
	sink       *sink
	next       atomic.Uint64 // publishes started, over every phase
}

// run publishes at --rate for d (or until ctx ends) with --concurrency
// workers. A publish in flight when d ends completes: it may be measured.
func (p *publisher) run(ctx context.Context, d time.Duration) {
	window, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	lim := rate.NewLimiter(rate.Limit(p.r.cfg.Rate), max(1, int(p.r.cfg.Rate/100)))
	var wg sync.WaitGroup
	for range p.r.cfg.Concurrency {
		wg.Go(func() {
			for lim.Wait(window) == nil {
				p.publish(ctx)
			}
		})
	}
	wg.Wait()
}

var availabilities = [2]string{"Available", "Busy"}

// publish sends the next change.
func (p *publisher) publish(ctx context.Context) {
	n := p.next.Add(1) - 1
	d := uint64(len(p.tokens))
	c := int(n % d)
	b := make([]byte, 0, 96)
	b = append(b, `{"availability":"`...)
	b = append(b, availabilities[(n/d)%2]...)
	b = append(b, `","note":"`...)
	t := time.Now().UnixNano()
	b = append(b, p.sink.note(t)...)
	b = append(b, `"}`...)
	err := p.r.measure(ctx, opPublish, func() error {
		return p.r.c.call(ctx, p.r.c.http, http.MethodPut, p.r.c.target+"/v1/me/presence", p.tokens[c], b, nil)
	})
	if err == nil && p.sink.measured(t) {
		p.r.rec.published.Add(1)
		p.r.rec.expected.Add(uint64(p.watchersOf[c]))
	}
}
