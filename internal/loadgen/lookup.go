package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
)

// queryAnswer is the part of a query answer the tool reads: one entry
// per asked contact.
type queryAnswer struct {
	Presence []struct {
		Availability string `json:"availability"`
	} `json:"presence"`
}

// runLookup: --concurrency workers (each its own watcher token) query
// --batch contacts at a time, drawn from the pool, back to back for
// --duration.
func (r *runner) runLookup(ctx context.Context) error {
	sctx, cancel := r.setupContext(ctx)
	tokens, err := r.mint(sctx, watcherPrefix, r.cfg.Concurrency)
	cancel()
	if err != nil {
		return setupErr(sctx, err)
	}
	r.before = r.snapshot(ctx)
	mctx, stop := context.WithTimeout(ctx, r.cfg.Duration)
	defer stop()
	r.beginMeasure()
	var wg sync.WaitGroup
	for w := range r.cfg.Concurrency {
		rng := rand.New(rand.NewPCG(uint64(r.cfg.Seed), uint64(w)))
		wg.Go(func() {
			// The last query completes after the window: it counts.
			for mctx.Err() == nil {
				r.lookupOnce(ctx, tokens[w], rng)
			}
		})
	}
	wg.Wait()
	r.endMeasure()
	r.after = r.finalSnapshot(ctx)
	return nil
}

// lookupOnce queries --batch contacts from a random position of the pool.
func (r *runner) lookupOnce(ctx context.Context, token string, rng *rand.Rand) {
	n := r.cfg.Batch
	b := make([]byte, 0, 16+n*28)
	b = append(b, `{"users":`...)
	b = r.pool.appendUsers(b, rng.Int64N(int64(r.cfg.Distinct)), n)
	b = append(b, '}')
	var ans queryAnswer
	err := r.measure(ctx, opQuery, func() error {
		if err := r.c.call(ctx, r.c.http, http.MethodPost, r.c.target+"/v1/presence/query", token, b, &ans); err != nil {
			return err
		}
		if len(ans.Presence) != n {
			return &callError{Status: http.StatusOK, Code: "bad_answer", Detail: fmt.Sprintf("%d entries for %d contacts", len(ans.Presence), n)}
		}
		return nil
	})
	if err == nil && r.rec.measuring.Load() {
		r.rec.lookups.Add(uint64(n))
	}
}
