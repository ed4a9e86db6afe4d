package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/api"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/backend/native"
	"github.com/presenced/presenced/internal/clock/clocktest"
	"github.com/presenced/presenced/internal/endpoint"
	"github.com/presenced/presenced/internal/presence"
	"github.com/presenced/presenced/internal/settings"
	"github.com/presenced/presenced/internal/state/memory"
	"github.com/presenced/presenced/internal/status"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
	"github.com/presenced/presenced/internal/stream"
	"github.com/presenced/presenced/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the manual clock's start: every publication and expiry of a test
// is computed from it.
var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// defaultTTL is the harness's subscription TTL (the product default).
const defaultTTL = 180 * time.Second

// options configure newHarness; the zero value of each field means the
// default stated beside it.
type options struct {
	endpoints      []string      // ["default"]
	maxPerEndpoint int           // 1000
	maxContacts    int           // 1000 (max_contacts_per_request)
	maxBody        int64         // 1 MiB
	rate           float64       // per-token requests per second; 0 = unlimited
	burst          int           // rate limiter burst
	allowlist      []string      // nil = allowlist off; else on with these domains
	linger         time.Duration // watch linger; 0 = release at once
	quiet          bool          // discard logs (fuzzing)
}

// harness is the client API built from the real components, as
// internal/app wires them, behind an httptest server: SQLite store in a
// temp dir, in-memory state, the native backend, the endpoint pool, the
// reconciler, the hub and the stream server, all on a manual clock.
type harness struct {
	tb       testing.TB
	clk      *clocktest.Clock
	store    *sqlite.Store
	backend  *native.Backend
	pool     *endpoint.Pool
	rec      *presence.Reconciler
	hub      *presence.Hub
	settings *settings.Manager
	streams  *stream.Server
	api      *api.Server
	srv      *httptest.Server
	reg      *prometheus.Registry
	hints    *hintRecorder
	ready    atomic.Bool
}

// hintRecorder is the hub's push hint sink.
type hintRecorder struct {
	mu    sync.Mutex
	hints []presence.Hint // guarded by mu
}

func (r *hintRecorder) Enqueue(h presence.Hint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hints = append(r.hints, h)
}

func (r *hintRecorder) all() []presence.Hint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]presence.Hint(nil), r.hints...)
}

// probeUser is watched by the harness only, to learn when the native
// backend hears publications on the state bus.
const probeUser = "probe@harness.invalid"

// probeSink forwards the backend's updates to the hub, except those of
// probeUser, which it only notes.
type probeSink struct {
	hub   *presence.Hub
	heard atomic.Bool // a published probe state reached the sink
}

func (s *probeSink) Update(contact string, p status.Presence) {
	if contact == probeUser {
		if p.Note == "probe" {
			s.heard.Store(true)
		}
		return
	}
	s.hub.Update(contact, p)
}

func newHarness(tb testing.TB, opts ...func(*options)) *harness {
	tb.Helper()
	o := options{endpoints: []string{"default"}, maxPerEndpoint: 1000, maxContacts: 1000, maxBody: 1 << 20}
	for _, f := range opts {
		f(&o)
	}
	log := slog.New(slog.DiscardHandler)
	if !o.quiet {
		log = slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx := context.Background()
	h := &harness{tb: tb, clk: clocktest.New(t0), reg: prometheus.NewRegistry(), hints: &hintRecorder{}}

	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "presenced.db"), log)
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	h.store = st
	shared := memory.New(h.clk)
	tb.Cleanup(func() { shared.Close() })
	h.backend = native.New(shared, h.clk, 0, log)
	if h.pool, err = endpoint.New(o.endpoints, o.maxPerEndpoint, h.reg); err != nil {
		tb.Fatalf("endpoint.New: %v", err)
	}
	h.rec = presence.NewReconciler(h.backend, h.pool, nil, h.clk, log)
	h.hub, err = presence.New(presence.Config{
		SubscriptionTTL: defaultTTL, MaxContacts: o.maxContacts, WatchLinger: o.linger,
	}, h.clk, h.rec, st.Subscriptions(), h.hints, log, h.reg)
	if err != nil {
		tb.Fatalf("presence.New: %v", err)
	}
	h.rec.SetSink(h.hub)
	h.settings, err = settings.Load(ctx, st.Settings(), h.hub, store.Settings{
		SubscriptionTTL: defaultTTL, AllowlistEnabled: o.allowlist != nil, AllowlistDomains: o.allowlist,
	})
	if err != nil {
		tb.Fatalf("settings.Load: %v", err)
	}
	if _, err := h.hub.Load(ctx); err != nil {
		tb.Fatalf("hub.Load: %v", err)
	}

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	tb.Cleanup(func() { stop(); wg.Wait() })
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(runCtx); err != nil {
				tb.Errorf("%s: %v", name, err)
			}
		}()
	}
	sink := &probeSink{hub: h.hub}
	run("backend", func(ctx context.Context) error { return h.backend.Run(ctx, sink) })
	h.waitBackend(sink)
	run("reconciler", h.rec.Run)
	run("hub", h.hub.Run)

	var limiter api.Limiter
	if o.rate > 0 {
		limiter = auth.NewRateLimiter(o.rate, o.burst, h.clk)
	}
	h.streams = stream.NewServer(stream.Config{}, h.hub, log, h.reg)
	h.api, err = api.New(api.Config{MaxBodyBytes: o.maxBody, MaxContacts: o.maxContacts}, api.Deps{
		Hub: h.hub, Auth: auth.NewAuthenticator(st.Tokens(), nil, h.clk, log), Limiter: limiter,
		Stream: h.streams, Publisher: h.backend, Fetcher: h.backend, Clock: h.clk,
		Ready: func(context.Context) error {
			if !h.ready.Load() {
				return errors.New("starting")
			}
			return nil
		},
		Logger: log, Registry: h.reg,
	})
	if err != nil {
		tb.Fatalf("api.New: %v", err)
	}
	h.srv = httptest.NewServer(h.api)
	tb.Cleanup(h.srv.Close)
	// Runs first: end the streams a test left open, which the HTTP
	// server's Close would otherwise wait for.
	tb.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.streams.Shutdown(sctx); err != nil {
			tb.Errorf("streams.Shutdown: %v", err)
		}
	})
	h.ready.Store(true)
	return h
}

// waitBackend waits until the native backend both accepts watches and
// delivers publications from the state bus, so that no watch placed by a
// test fails (its retry would wait on the manual clock) and no
// publication is missed.
func (h *harness) waitBackend(sink *probeSink) {
	h.tb.Helper()
	ctx := context.Background()
	ep := backend.Endpoint{Index: 0, ID: "probe"}
	eventually(h.tb, "the backend to accept a watch", func() bool { return h.backend.Watch(ctx, ep, probeUser) == nil })
	eventually(h.tb, "the backend to hear a publication", func() bool {
		if sink.heard.Load() {
			return true
		}
		if err := h.backend.Publish(ctx, probeUser, status.Presence{Availability: status.Available, Note: "probe"}); err != nil {
			h.tb.Fatalf("publish probe: %v", err)
		}
		return false
	})
	if err := h.backend.Unwatch(ctx, ep, probeUser); err != nil {
		h.tb.Fatalf("unwatch probe: %v", err)
	}
}

// token returns a new client API token for user.
func (h *harness) token(user string) string {
	h.tb.Helper()
	return h.newToken(store.ClientToken, user)
}

// adminToken returns a new admin API token.
func (h *harness) adminToken() string {
	h.tb.Helper()
	return h.newToken(store.AdminToken, "")
}

func (h *harness) newToken(kind store.TokenKind, user string) string {
	h.tb.Helper()
	secret, hash, err := auth.NewToken()
	if err != nil {
		h.tb.Fatalf("NewToken: %v", err)
	}
	if err := h.store.Tokens().Create(context.Background(), store.Token{Hash: hash, Kind: kind, User: user, CreatedAt: t0}); err != nil {
		h.tb.Fatalf("store token: %v", err)
	}
	return secret
}

// response is an answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

// bearer returns the Authorization header of token ("" = none).
func bearer(token string) http.Header {
	if token == "" {
		return http.Header{}
	}
	return http.Header{"Authorization": {"Bearer " + token}}
}

// do calls the API as token ("" = no credentials). body is sent as is
// when it is a string, JSON-encoded otherwise, and not at all when nil.
func (h *harness) do(method, path, token string, body any) response {
	h.tb.Helper()
	return h.send(method, path, bearer(token), body)
}

// send is do with explicit request headers.
func (h *harness) send(method, path string, hdr http.Header, body any) response {
	h.tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			h.tb.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.tb.Fatalf("new request: %v", err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.tb.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// decode checks r's status and JSON content type and decodes its body.
func decode[T any](tb testing.TB, r response, wantStatus int) T {
	tb.Helper()
	var v T
	if r.status != wantStatus {
		tb.Fatalf("status %d, want %d; body %s", r.status, wantStatus, r.body)
	}
	if mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt != "application/json" {
		tb.Fatalf("Content-Type %q, want application/json", r.header.Get("Content-Type"))
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		tb.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

// problem is an application/problem+json answer.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// wantProblem checks that r is a problem+json answer with status and code.
func wantProblem(tb testing.TB, r response, status int, code string) problem {
	tb.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Errorf("Content-Type %q, want application/problem+json; body %s", ct, r.body)
	}
	var p problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		tb.Fatalf("decode problem %s: %v", r.body, err)
	}
	got := struct{ HTTP, Status int }{r.status, p.Status}
	if diff := cmp.Diff(struct{ HTTP, Status int }{status, status}, got); diff != "" {
		tb.Errorf("status (-want +got):\n%s\nbody %s", diff, r.body)
	}
	if p.Code != code {
		tb.Errorf("code %q, want %q; body %s", p.Code, code, r.body)
	}
	if p.Type == "" || p.Title == "" {
		tb.Errorf("problem without type or title: %s", r.body)
	}
	return p
}

// eventually polls cond until it holds, failing after a generous deadline
// that only stops a broken test from hanging.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// subscription is the JSON of a client subscription.
type subscription struct {
	ID        string          `json:"id"`
	Key       string          `json:"key"`
	TTL       int             `json:"ttl"`
	ExpiresAt time.Time       `json:"expires_at"`
	Sequence  uint64          `json:"sequence"`
	Users     []string        `json:"users"`
	Presence  []wire.Presence `json:"presence"`
}

// changes is the answer of GET /v1/subscriptions/{id}/changes.
type changes struct {
	Sequence uint64          `json:"sequence"`
	Full     bool            `json:"full"`
	Presence []wire.Presence `json:"presence"`
}

// subscribe creates (or replaces) a subscription of token's user.
func (h *harness) subscribe(token string, body any, wantStatus int) subscription {
	h.tb.Helper()
	return decode[subscription](h.tb, h.do("POST", "/v1/subscriptions", token, body), wantStatus)
}

// settled polls token's subscription id until none of its contacts is
// pending any more, and returns its full state.
func (h *harness) settled(token, id string) subscription {
	h.tb.Helper()
	var s subscription
	eventually(h.tb, "subscription "+id+" to settle", func() bool {
		s = decode[subscription](h.tb, h.do("GET", "/v1/subscriptions/"+id, token, nil), http.StatusOK)
		for _, p := range s.Presence {
			if p.Reason == status.Pending.String() {
				return false
			}
		}
		return true
	})
	return s
}

// publish sets token's user's presence through PUT /v1/me/presence.
func (h *harness) publish(token string, body any) wire.Presence {
	h.tb.Helper()
	return decode[wire.Presence](h.tb, h.do("PUT", "/v1/me/presence", token, body), http.StatusOK)
}

// changesUntil polls the changes of token's subscription id since seq
// until they hold at least one contact.
func (h *harness) changesUntil(token, id string, since uint64) changes {
	h.tb.Helper()
	var c changes
	eventually(h.tb, "a change of subscription "+id, func() bool {
		c = decode[changes](h.tb, h.do("GET", fmt.Sprintf("/v1/subscriptions/%s/changes?since=%d", id, since), token, nil), http.StatusOK)
		return len(c.Presence) > 0
	})
	return c
}

// at returns a pointer to t, for wire.Presence.Since.
func at(t time.Time) *time.Time { return &t }

// offline, pending and the like are the presence objects a contact has in
// a given state.
func offline(user string, since *time.Time) wire.Presence {
	return wire.Presence{User: user, Availability: "Offline", Code: 18000, Since: since}
}

func unknown(user string, r status.Reason) wire.Presence {
	return wire.Presence{User: user, Availability: "Unknown", Code: -1, Reason: r.String()}
}
