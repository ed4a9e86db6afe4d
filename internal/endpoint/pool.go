// Package endpoint is the application endpoint pool: the identities that
// hold backend subscriptions, each carrying at most a fixed number of them.
//
// Placement is fill-first, not balanced (PRODUCT.md §2): the next watch
// goes to the lowest-index endpoint that has room, so the first endpoint
// fills up before the second gets any, and a freed slot is reused before
// later endpoints are touched.
package endpoint

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/backend"
)

// Usage is one endpoint's load.
type Usage struct {
	ID   string `json:"id"`
	Max  int    `json:"max"`
	Used int    `json:"used"`
}

// Pool places watches on endpoints. It is safe for concurrent use.
type Pool struct {
	mu   sync.Mutex
	eps  []backend.Endpoint
	max  int
	used []int // guarded by mu; used[i] is the load of eps[i]

	usedGauge *prometheus.GaugeVec
}

// New returns a pool over the endpoints ids (in fill order), each holding
// at most max watches. The ids must be unique and non-empty and max
// positive (config validation guarantees it).
func New(ids []string, max int, reg prometheus.Registerer) (*Pool, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("endpoint pool: no endpoints")
	}
	if max < 1 {
		return nil, fmt.Errorf("endpoint pool: max %d < 1", max)
	}
	p := &Pool{max: max, used: make([]int, len(ids))}
	for i, id := range ids {
		p.eps = append(p.eps, backend.Endpoint{Index: i, ID: id})
	}
	p.usedGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "presenced_endpoint_subscriptions",
		Help: "Backend subscriptions held by each application endpoint.",
	}, []string{"endpoint"})
	capacity := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "presenced_endpoint_capacity",
		Help: "Maximum backend subscriptions of each application endpoint.",
	}, []string{"endpoint"})
	for _, ep := range p.eps {
		p.usedGauge.WithLabelValues(ep.ID).Set(0)
		capacity.WithLabelValues(ep.ID).Set(float64(max))
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{p.usedGauge, capacity} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("endpoint pool metrics: %w", err)
			}
		}
	}
	return p, nil
}

// Acquire takes a slot on the lowest-index endpoint with room and reports
// false when every endpoint is full.
func (p *Pool) Acquire() (backend.Endpoint, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, n := range p.used {
		if n < p.max {
			p.used[i]++
			p.usedGauge.WithLabelValues(p.eps[i].ID).Set(float64(p.used[i]))
			return p.eps[i], true
		}
	}
	return backend.Endpoint{}, false
}

// Release frees a slot of ep taken by Acquire.
func (p *Pool) Release(ep backend.Endpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := ep.Index
	if i < 0 || i >= len(p.used) || p.used[i] == 0 {
		panic(fmt.Sprintf("endpoint pool: release of %v without a slot", ep))
	}
	p.used[i]--
	p.usedGauge.WithLabelValues(p.eps[i].ID).Set(float64(p.used[i]))
}

// Usage returns every endpoint's load, in fill order.
func (p *Pool) Usage() []Usage {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Usage, len(p.eps))
	for i, ep := range p.eps {
		out[i] = Usage{ID: ep.ID, Max: p.max, Used: p.used[i]}
	}
	return out
}

// Endpoints returns the endpoints in fill order.
func (p *Pool) Endpoints() []backend.Endpoint {
	return append([]backend.Endpoint(nil), p.eps...)
}

// Used returns the total number of slots taken.
func (p *Pool) Used() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, u := range p.used {
		n += u
	}
	return n
}
