// Package apptest runs the whole gateway for tests, as the composition
// root builds it (app.New): the SQLite store in a temporary directory,
// in-memory state and the native backend, on a manual clock, with push
// hints recorded instead of sent, and the client and admin handlers each
// behind an httptest server. It also holds the request, decoding and
// polling helpers that the API test packages share.
//
// A Harness belongs to one test (or fuzz target) and is shut down by its
// cleanup, in the order of the process's shutdown recipe.
package apptest

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/app"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/clock/clocktest"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/directory"
	"github.com/presenced/presenced/internal/presence"
	"github.com/presenced/presenced/internal/store"
)

// T0 is the manual clock's start: publications and expiries of a test are
// computed from it.
var T0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// DefaultTTL is the harness's subscription TTL, the product default.
const DefaultTTL = 180 * time.Second

// Harness is a built gateway served on loopback. Its exported fields are
// set by Build and never change.
type Harness struct {
	tb testing.TB

	Gateway *app.Gateway     // every component, as the composition root wired them
	Clock   *clocktest.Clock // the gateway's clock; starts at T0
	Hints   *HintRecorder    // the push hints the hub sent

	ClientServer *httptest.Server // serves Gateway.Client
	AdminServer  *httptest.Server // serves Gateway.Admin

	comps *app.Components // nil until Start
}

// New builds the gateway (see Build), starts its components and waits
// until the backend is ready (see Start).
func New(tb testing.TB, mutate ...func(*config.Config)) *Harness {
	tb.Helper()
	return NewWith(tb, Extras{}, mutate...)
}

// Extras are components a test gives the gateway instead of building
// them from the configuration.
type Extras struct {
	// Directory replaces directory.kind (e.g. a directorytest.Fake).
	Directory directory.Directory
}

// NewWith is New with extras.
func NewWith(tb testing.TB, x Extras, mutate ...func(*config.Config)) *Harness {
	tb.Helper()
	h := build(tb, x, mutate...)
	h.Start()
	return h
}

// Build builds the gateway from config.Default() with the harness's
// changes, then mutate's, and serves its two handlers, but does not start
// its components: until Start it reports that it is starting.
//
// The harness's changes keep tests exact on the manual clock: data in
// tb.TempDir(); warn-level text logs to tb.Output(); no coalescing
// (presence.coalesce_interval 0), watches released at once
// (presence.watch_linger 0) and no rate limit
// (auth.rate_limit.requests_per_second 0). The configuration must pass
// Validate.
func Build(tb testing.TB, mutate ...func(*config.Config)) *Harness {
	tb.Helper()
	return build(tb, Extras{}, mutate...)
}

func build(tb testing.TB, x Extras, mutate ...func(*config.Config)) *Harness {
	tb.Helper()
	cfg := config.Default()
	cfg.DataDir = tb.TempDir()
	cfg.Log = config.LogConfig{Level: "warn", Format: "text"}
	cfg.Presence.CoalesceInterval = 0
	cfg.Presence.WatchLinger = 0
	cfg.Auth.RateLimit.RequestsPerSecond = 0
	for _, f := range mutate {
		f(&cfg)
	}
	if ps := cfg.Validate(); ps != nil {
		tb.Fatalf("harness configuration: %v", ps)
	}

	h := &Harness{tb: tb, Clock: clocktest.New(T0), Hints: &HintRecorder{}}
	g, err := app.New(context.Background(), cfg, app.Options{
		Logger: app.NewLogger(cfg.Log, tb.Output()), Clock: h.Clock, Hints: h.Hints, Directory: x.Directory,
	})
	if err != nil {
		tb.Fatalf("app.New: %v", err)
	}
	h.Gateway = g
	tb.Cleanup(h.shutdown)
	h.ClientServer = httptest.NewServer(g.Client)
	h.AdminServer = httptest.NewServer(g.Admin)
	return h
}

// Start runs the gateway's components and waits until the backend accepts
// watches, so that no watch a test causes fails (its retry would wait on
// the manual clock). For the native backend an accepted watch also means
// that it receives every later publication: Watch succeeds only once Run
// has subscribed to the state bus. Start at most once.
func (h *Harness) Start() {
	h.tb.Helper()
	if h.comps != nil {
		h.tb.Fatal("apptest: Start called twice")
	}
	h.comps = h.Gateway.Start()
	// probeUser is a contact of the harness only; the hub ignores the
	// report of its watch, which no subscription wants.
	const probeUser = "probe@harness.invalid"
	ctx := context.Background()
	ep := backend.Endpoint{Index: 0, ID: "probe"}
	Eventually(h.tb, "the backend to accept a watch", func() bool {
		return h.Gateway.Backend.Watch(ctx, ep, probeUser) == nil
	})
	if err := h.Gateway.Backend.Unwatch(ctx, ep, probeUser); err != nil {
		h.tb.Fatalf("unwatch the probe: %v", err)
	}
}

// shutdown follows the process's recipe: end the streams (the HTTP
// servers' Close would wait for SSE requests, and does not end hijacked
// WebSockets), close the servers, stop the components (core before
// backend), then close the state and the store.
func (h *Harness) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	if err := h.Gateway.Streams.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, srv := range []*httptest.Server{h.ClientServer, h.AdminServer} {
		if srv != nil {
			srv.Close()
		}
	}
	if h.comps != nil {
		errs = append(errs, h.comps.Stop())
	}
	errs = append(errs, h.Gateway.Close())
	if err := errors.Join(errs...); err != nil {
		h.tb.Errorf("gateway shutdown: %v", err)
	}
}

// Token returns a new client API token for user.
func (h *Harness) Token(user string) string {
	h.tb.Helper()
	return h.newToken(store.ClientToken, user)
}

// AdminToken returns a new admin API token.
func (h *Harness) AdminToken() string {
	h.tb.Helper()
	return h.newToken(store.AdminToken, "")
}

func (h *Harness) newToken(kind store.TokenKind, user string) string {
	h.tb.Helper()
	secret, _, err := auth.Issue(context.Background(), h.Gateway.Store.Tokens(), kind, user, h.Clock.Now())
	if err != nil {
		h.tb.Fatalf("issue token: %v", err)
	}
	return secret
}

// HintRecorder is the hub's push hint sink: it keeps every hint.
type HintRecorder struct {
	mu    sync.Mutex
	hints []presence.Hint // guarded by mu
}

var _ presence.HintSink = (*HintRecorder)(nil)

// Enqueue records hint.
func (r *HintRecorder) Enqueue(hint presence.Hint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hints = append(r.hints, hint)
}

// All returns the hints recorded so far, oldest first.
func (r *HintRecorder) All() []presence.Hint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]presence.Hint(nil), r.hints...)
}

// Eventually polls cond until it holds, failing tb after a generous
// deadline that only stops a broken test from hanging.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
