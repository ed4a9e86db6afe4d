package loadgen

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"

	"golang.org/x/time/rate"
)

// churnWatcher is one watcher's subscription in the churn scenario: its
// contacts are the C consecutive pool entries from start.
type churnWatcher struct {
	mu    sync.Mutex
	id    string // "" = none; guarded by mu
	start int64  // guarded by mu
	token string
}

// runChurn: at --rate operations/s, a random watcher's subscription is
// created (when it has none), or refreshed, changed by PATCH (a tenth of
// its contacts swapped), replaced by key, or deleted.
func (r *runner) runChurn(ctx context.Context) error {
	sctx, cancel := r.setupContext(ctx)
	tokens, err := r.mint(sctx, watcherPrefix, r.cfg.Watchers)
	cancel()
	if err != nil {
		return setupErr(sctx, err)
	}
	ws := make([]churnWatcher, len(tokens))
	for i := range ws {
		ws[i].token = tokens[i]
	}
	r.before = r.snapshot(ctx)
	mctx, stop := context.WithTimeout(ctx, r.cfg.Duration)
	defer stop()
	lim := rate.NewLimiter(rate.Limit(r.cfg.Rate), max(1, int(r.cfg.Rate/100)))
	r.beginMeasure()
	var wg sync.WaitGroup
	for k := range r.cfg.Concurrency {
		rng := rand.New(rand.NewPCG(uint64(r.cfg.Seed), uint64(k)))
		wg.Go(func() {
			for lim.Wait(mctx) == nil {
				r.churnOnce(ctx, &ws[rng.IntN(len(ws))], rng)
			}
		})
	}
	wg.Wait()
	r.endMeasure()
	if d := r.measureEnd.Sub(r.measureStart).Seconds(); d > 0 {
		if achieved := float64(r.rec.totalOps()) / d; achieved < 0.9*r.cfg.Rate {
			r.warn("churn reached %.0f/s of --rate %.0f: raise --concurrency, or the server is saturated", achieved, r.cfg.Rate)
		}
	}
	r.after = r.finalSnapshot(ctx)
	subs := make([]watcherSub, len(ws))
	for i := range ws {
		subs[i].id = ws[i].id
	}
	r.deleteAll(ctx, tokens, subs)
	return nil
}

// churnOnce makes one operation on w.
func (r *runner) churnOnce(ctx context.Context, w *churnWatcher, rng *rand.Rand) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := r.cfg.Contacts
	subURL := r.c.target + "/v1/subscriptions/" + w.id
	var err error
	switch roll := rng.IntN(100); {
	case w.id == "" || roll < 20: // create, or replace by key
		k := opReplace
		if w.id == "" {
			k = opCreate
		}
		start := rng.Int64N(int64(r.cfg.Distinct))
		var ans subscribeAnswer
		err = r.measure(ctx, k, func() error {
			return r.c.call(ctx, r.c.http, http.MethodPost, r.c.target+"/v1/subscriptions", w.token, r.pool.subscribeBody(start, c), &ans)
		})
		if err == nil {
			w.id, w.start = ans.ID, start
		}
	case roll < 50:
		err = r.measure(ctx, opRefresh, func() error {
			return r.c.call(ctx, r.c.http, http.MethodPost, subURL+"/refresh", w.token, nil, nil)
		})
	case roll < 80: // slide the window: the first tenth out, as many in
		n := max(1, c/10)
		body := r.pool.patchBody(w.start, n, w.start+int64(c), n)
		err = r.measure(ctx, opPatch, func() error {
			return r.c.call(ctx, r.c.http, http.MethodPatch, subURL, w.token, body, nil)
		})
		if err == nil {
			w.start += int64(n)
		}
	default:
		err = r.measure(ctx, opDelete, func() error {
			return r.c.call(ctx, r.c.http, http.MethodDelete, subURL, w.token, nil, nil)
		})
		if err == nil {
			w.id = ""
		}
	}
	var ce *callError
	if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
		w.id = "" // expired: the next operation creates it again
	}
}
