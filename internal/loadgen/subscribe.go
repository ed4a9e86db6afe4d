package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// watcherSub is one watcher's bench subscription. One goroutine at a time
// uses it.
type watcherSub struct {
	id        string
	ttl       time.Duration
	refreshed time.Time
}

// subscribeAnswer is the part of a subscribe answer the tool reads.
type subscribeAnswer struct {
	ID  string `json:"id"`
	TTL int    `json:"ttl"`
}

// runSubscribe: W watchers subscribe C contacts each in batches, then the
// subscriptions are held (refreshed) until --duration ends, the server
// metrics are read, and the subscriptions are deleted.
func (r *runner) runSubscribe(ctx context.Context) error {
	sctx, cancel := r.setupContext(ctx)
	tokens, err := r.mint(sctx, watcherPrefix, r.cfg.Watchers)
	cancel()
	if err != nil {
		return setupErr(sctx, err)
	}
	r.before = r.snapshot(ctx)
	r.expectWatches = r.expectedWatches(r.pool.covered(r.cfg.Watchers))

	mctx, stop := context.WithTimeout(ctx, r.cfg.Duration)
	defer stop()
	subs := make([]watcherSub, r.cfg.Watchers)
	r.beginMeasure()
	r.setPhase("subscribing")
	var done atomic.Int64
	_ = forEach(mctx, r.cfg.Watchers, r.cfg.Concurrency, func(ctx context.Context, w int) error {
		_ = r.subscribeWatcher(ctx, tokens[w], w, &subs[w], true)
		done.Add(1)
		return nil
	})
	r.subscribeTime = time.Since(r.measureStart)
	if n := done.Load(); n < int64(r.cfg.Watchers) && ctx.Err() == nil {
		r.warn("--duration ended after %d of %d watchers subscribed", n, r.cfg.Watchers)
	}
	r.setPhase("holding")
	r.hold(mctx, tokens, subs)
	r.endMeasure()
	r.after = r.settledSnapshot(ctx, 10*time.Second, false)
	r.deleteAll(ctx, tokens, subs)
	return nil
}

// expectedWatches is the backend watch count covered distinct contacts
// should cause: all of them, unless the endpoints hold fewer.
func (r *runner) expectedWatches(covered int) int {
	if c := int(r.before[metricEndpointCap]); c > 0 && c < covered {
		return c
	}
	return covered
}

// subscribeWatcher subscribes watcher w's contacts: a create with the
// first --batch contacts, then PATCH adds of the rest. Measured calls are
// counted and the watcher carries on after a failed PATCH; otherwise
// (preparing a run) rate limits are retried and the first error is
// returned.
func (r *runner) subscribeWatcher(ctx context.Context, token string, w int, s *watcherSub, measured bool) error {
	start, total, batch := r.pool.start(w), r.cfg.Contacts, r.cfg.Batch
	n := min(batch, total)
	body := r.pool.subscribeBody(start, n)
	var ans subscribeAnswer
	err := r.call(ctx, opCreate, measured, func() error {
		return r.c.call(ctx, r.c.http, http.MethodPost, r.c.target+"/v1/subscriptions", token, body, &ans)
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", email(watcherPrefix, w), err)
	}
	s.id, s.ttl, s.refreshed = ans.ID, time.Duration(ans.TTL)*time.Second, time.Now()
	if s.ttl <= 0 {
		s.ttl = 10 * time.Second // the shortest TTL: refresh often
	}
	r.addPairs(n)
	for off := n; off < total; off += batch {
		k := min(batch, total-off)
		body := r.pool.patchBody(0, 0, start+int64(off), k)
		err := r.call(ctx, opPatch, measured, func() error {
			return r.c.call(ctx, r.c.http, http.MethodPatch, r.c.target+"/v1/subscriptions/"+s.id, token, body, nil)
		})
		switch {
		case err == nil:
			r.addPairs(k)
		case !measured || ctx.Err() != nil:
			return fmt.Errorf("subscribe %s: add contacts: %w", email(watcherPrefix, w), err)
		}
	}
	return nil
}

// call runs a client call: measured (counted, see measure) or as part of
// preparing the run (rate limits retried).
func (r *runner) call(ctx context.Context, k opKind, measured bool, f func() error) error {
	if measured {
		return r.measure(ctx, k, f)
	}
	return retrySetup(ctx, f)
}

// addPairs counts subscribed watcher–contact pairs while measuring.
func (r *runner) addPairs(n int) {
	if r.rec.measuring.Load() {
		r.rec.pairs.Add(uint64(n))
	}
}

// hold refreshes the subscriptions whenever less than half their TTL is
// left, until ctx ends.
func (r *runner) hold(ctx context.Context, tokens []string, subs []watcherSub) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			var due []int
			for i := range subs {
				if s := &subs[i]; s.id != "" && now.Sub(s.refreshed) >= s.ttl/2 {
					due = append(due, i)
				}
			}
			_ = forEach(ctx, len(due), r.cfg.Concurrency, func(ctx context.Context, k int) error {
				s := &subs[due[k]]
				err := r.measure(ctx, opRefresh, func() error {
					return r.c.call(ctx, r.c.http, http.MethodPost, r.c.target+"/v1/subscriptions/"+s.id+"/refresh", tokens[due[k]], nil, nil)
				})
				if err == nil {
					s.refreshed = time.Now()
				}
				return nil
			})
		}
	}
}

// deleteAll deletes the subscriptions (unless --keep), within
// cleanupTimeout even when ctx has ended, and records the result.
func (r *runner) deleteAll(ctx context.Context, tokens []string, subs []watcherSub) {
	c := &Cleanup{Kept: r.cfg.Keep}
	r.cleanup = c
	if r.cfg.Keep {
		return
	}
	r.setPhase("cleaning up")
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var deleted, failed atomic.Int64
	_ = forEach(ctx, len(subs), r.cfg.Concurrency, func(ctx context.Context, i int) error {
		if subs[i].id == "" {
			return nil
		}
		err := retrySetup(ctx, func() error {
			return r.c.call(ctx, r.c.http, http.MethodDelete, r.c.target+"/v1/subscriptions/"+subs[i].id, tokens[i], nil, nil)
		})
		var ce *callError
		if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
			err = nil // expired already
		}
		if err != nil {
			failed.Add(1)
		} else {
			deleted.Add(1)
		}
		return nil
	})
	c.Deleted, c.Errors = int(deleted.Load()), int(failed.Load())
}
