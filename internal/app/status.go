package app

import (
	"context"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/directory"
)

// statusTTL is how long a component status shown on the overview is
// reused before it is checked again.
const statusTTL = 5 * time.Second

// stateJSON is a component's state on the overview: up, down or none.
type stateJSON struct {
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
}

// componentStatus checks the backend and the directory for the overview,
// at most once per statusTTL however many dashboards poll.
type componentStatus struct {
	g   *Gateway
	clk clock.Clock

	mu                 sync.Mutex
	at                 time.Time
	backend, directory stateJSON
}

func newComponentStatus(g *Gateway, clk clock.Clock) *componentStatus {
	return &componentStatus{g: g, clk: clk}
}

// get returns the backend's and the directory's state, checking them
// when the last check is older than statusTTL.
func (c *componentStatus) get() (stateJSON, stateJSON) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clk.Now()
	if !c.at.IsZero() && now.Sub(c.at) < statusTTL {
		return c.backend, c.directory
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c.backend = stateJSON{State: "up", Detail: c.g.cfg.Backend.Kind}
	if hc, ok := c.g.Backend.(backend.HealthChecker); ok {
		if err := hc.Healthy(ctx); err != nil {
			c.backend = stateJSON{State: "down", Detail: err.Error()}
		}
	}
	switch hc, ok := c.g.Directory.(directory.HealthChecker); {
	case c.g.Directory == nil:
		c.directory = stateJSON{State: "none", Detail: "not configured"}
	case !ok:
		c.directory = stateJSON{State: "up", Detail: c.g.cfg.Directory.Kind}
	default:
		c.directory = stateJSON{State: "up", Detail: c.g.cfg.Directory.Kind + " " + c.g.cfg.Directory.LDAP.Source}
		if err := hc.Healthy(ctx); err != nil {
			c.directory = stateJSON{State: "down", Detail: err.Error()}
		}
	}
	c.at = c.clk.Now()
	return c.backend, c.directory
}
