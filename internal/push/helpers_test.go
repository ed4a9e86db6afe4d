package push_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/clock/clocktest"
	"github.com/presenced/presenced/internal/push"
	"github.com/presenced/presenced/internal/store"
)

const (
	testSecret = "s3cr3t-hmac-key"
	// Every test push token starts with tokenPrefix, so that the logs
	// can be checked for leaks.
	tokenPrefix = "ptok-"
	waitLimit   = 10 * time.Second
)

var start = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// hint returns the hint a test enqueues for subscription sub.
func hint(sub string, seq uint64) push.Hint {
	return push.Hint{PushToken: tokenPrefix + sub, User: "bob@example.com", Subscription: sub, Key: "key-" + sub, Sequence: seq}
}

// reply is how the relay answers one request.
type reply struct {
	status     int
	retryAfter string
	block      bool // wait until the relay is released or the client gives up
}

// received is one request as the relay saw it.
type received struct {
	Subscription string
	Sequence     uint64
	Body         string
	Delivery     string
	SignatureOK  bool
	ContentType  string
	UserAgent    string
}

// relay is a push relay on loopback that verifies signatures with
// push.Verify and answers by script.
type relay struct {
	srv     *httptest.Server
	release func()
	// respond answers the n-th request (from 0) for subscription sub.
	respond func(n int, sub string) reply
	gate    chan struct{}

	mu   sync.Mutex
	reqs []received // guarded by mu
}

func newRelay(t *testing.T, respond func(n int, sub string) reply) *relay {
	t.Helper()
	r := &relay{respond: respond, gate: make(chan struct{})}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	var once sync.Once
	r.release = func() { once.Do(func() { close(r.gate) }) }
	t.Cleanup(r.release) // runs before Close, which waits for blocked handlers
	return r
}

// script answers the n-th request with replies[n], repeating the last.
func script(replies ...reply) func(int, string) reply {
	return func(n int, _ string) reply { return replies[min(n, len(replies)-1)] }
}

func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var wire struct {
		Subscription string `json:"subscription"`
		Sequence     uint64 `json:"sequence"`
	}
	_ = json.Unmarshal(body, &wire)
	rec := received{
		Subscription: wire.Subscription,
		Sequence:     wire.Sequence,
		Body:         string(body),
		Delivery:     req.Header.Get(push.DeliveryHeader),
		SignatureOK:  push.Verify([]byte(testSecret), body, req.Header.Get(push.SignatureHeader)),
		ContentType:  req.Header.Get("Content-Type"),
		UserAgent:    req.Header.Get("User-Agent"),
	}
	r.mu.Lock()
	n := len(r.reqs)
	r.reqs = append(r.reqs, rec)
	r.mu.Unlock()
	if !rec.SignatureOK {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	rep := r.respond(n, wire.Subscription)
	if rep.block {
		select {
		case <-r.gate:
		case <-req.Context().Done():
			return
		}
	}
	if rep.retryAfter != "" {
		w.Header().Set("Retry-After", rep.retryAfter)
	}
	w.WriteHeader(rep.status)
}

// received returns a copy of the requests so far.
func (r *relay) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

func (r *relay) count() int { return len(r.received()) }

// memHints is an in-memory store.HintStore.
type memHints struct {
	mu      sync.Mutex
	hints   map[string]store.Hint // guarded by mu
	saveErr error
}

func newMemHints() *memHints { return &memHints{hints: make(map[string]store.Hint)} }

func (m *memHints) Save(ctx context.Context, hints []store.Hint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.saveErr != nil {
		return m.saveErr
	}
	for _, h := range hints {
		m.hints[h.Subscription] = h
	}
	return nil
}

func (m *memHints) Take(ctx context.Context) ([]store.Hint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.all()
	clear(m.hints)
	return out, nil
}

// snapshot returns the stored hints by subscription id.
func (m *memHints) snapshot() []store.Hint {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.all()
}

func (m *memHints) all() []store.Hint {
	out := make([]store.Hint, 0, len(m.hints))
	for _, h := range m.hints {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b store.Hint) int { return strings.Compare(a.Subscription, b.Subscription) })
	return out
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is one Pusher under test with its relay, clock, store, metrics
// and logs.
type harness struct {
	t     *testing.T
	relay *relay
	clk   *clocktest.Clock
	hints *memHints
	reg   *prometheus.Registry
	logs  *syncBuffer
	p     *push.Pusher

	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan error
}

// options configure newHarness; zero values are sensible defaults.
type options struct {
	cfg     push.Config
	respond func(n int, sub string) reply // default: always 200
	hints   *memHints                     // default: a new empty store
	noStore bool                          // give the Pusher a nil HintStore
	client  *http.Client                  // default: the relay's client
}

func newHarness(t *testing.T, o options) *harness {
	t.Helper()
	if o.respond == nil {
		o.respond = script(reply{status: http.StatusOK})
	}
	if o.hints == nil {
		o.hints = newMemHints()
	}
	h := &harness{
		t:     t,
		relay: newRelay(t, o.respond),
		clk:   clocktest.New(start),
		hints: o.hints,
		reg:   prometheus.NewRegistry(),
		logs:  &syncBuffer{},
	}
	if o.cfg.URL == "" {
		o.cfg.URL = h.relay.srv.URL
	}
	if o.cfg.Secret == "" {
		o.cfg.Secret = testSecret
	}
	if o.client == nil {
		o.client = h.relay.srv.Client()
	}
	var hs store.HintStore = h.hints
	if o.noStore {
		hs = nil
	}
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.p = push.New(o.cfg, o.client, hs, h.clk, logger, h.reg)
	// The latest point of each full-jitter window: the n-th retry falls
	// due exactly 1ns before retryCeiling(n), so advancing the clock to
	// it fires that retry and never the next one.
	push.SetJitter(h.p, func(n int64) int64 { return n - 1 })
	t.Cleanup(h.checkLogs)
	return h
}

// start runs the Pusher until stop (or the end of the test).
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.p.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

// stop cancels Run and waits for it to return nil.
func (h *harness) stop() {
	h.t.Helper()
	h.stopOnce.Do(func() {
		h.cancel()
		select {
		case err := <-h.done:
			if err != nil {
				h.t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(waitLimit):
			h.t.Fatal("Run did not return after cancel")
		}
	})
}

// checkLogs fails the test if the logs hold the secret or a push token.
func (h *harness) checkLogs() {
	logs := h.logs.String()
	for _, secret := range []string{testSecret, tokenPrefix} {
		if strings.Contains(logs, secret) {
			h.t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

// retryCeiling returns the backoff ceiling after failures failed
// attempts: 500ms doubling, capped at a minute.
func retryCeiling(failures int) time.Duration {
	return min(500*time.Millisecond<<(failures-1), time.Minute)
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; results %v, relay saw %d requests, %d timers pending",
				what, h.results(), h.relay.count(), h.clk.Pending())
		}
		time.Sleep(time.Millisecond)
	}
}

// results returns the non-zero presenced_push_hints_total counters by
// result.
func (h *harness) results() map[string]float64 {
	h.t.Helper()
	out := map[string]float64{}
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "presenced_push_hints_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				out[m.GetLabel()[0].GetValue()] = v
			}
		}
	}
	return out
}

// total returns the sum of all presenced_push_hints_total counters.
func (h *harness) total() float64 {
	var n float64
	for _, v := range h.results() {
		n += v
	}
	return n
}

// queue returns the presenced_push_queue gauge.
func (h *harness) queue() float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "presenced_push_queue" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	h.t.Fatal("no presenced_push_queue metric")
	return 0
}

// deliveries returns the presenced_push_delivery_seconds sample count.
func (h *harness) deliveries() uint64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "presenced_push_delivery_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	h.t.Fatal("no presenced_push_delivery_seconds metric")
	return 0
}
