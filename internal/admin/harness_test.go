package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

	"github.com/presenced/presenced/internal/admin"
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

// t0 is the manual clock's start.
var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

const defaultTTL = 180 * time.Second

// options configure newHarness; zero fields take the defaults beside them.
type options struct {
	endpoints      []string // ["default"]
	maxPerEndpoint int      // 1000
}

// harness is the admin API and the client API over the same real
// components, wired as internal/app does, each behind an httptest server:
// SQLite in a temp dir, in-memory state, the native backend, the endpoint
// pool, the reconciler and the hub, on a manual clock.
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
	client   *httptest.Server // the client API
	admin    *httptest.Server // the admin API
	ready    atomic.Bool
}

// probeUser is watched by the harness only, to learn when the native
// backend hears publications on the state bus.
const probeUser = "probe@harness.invalid"

// probeSink forwards the backend's updates to the hub, except those of
// probeUser, which it only notes.
type probeSink struct {
	hub   *presence.Hub
	heard atomic.Bool
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
	o := options{endpoints: []string{"default"}, maxPerEndpoint: 1000}
	for _, f := range opts {
		f(&o)
	}
	log := slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	h := &harness{tb: tb, clk: clocktest.New(t0)}
	reg := prometheus.NewRegistry()

	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "presenced.db"), log)
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	h.store = st
	shared := memory.New(h.clk)
	tb.Cleanup(func() { shared.Close() })
	h.backend = native.New(shared, h.clk, 0, log)
	if h.pool, err = endpoint.New(o.endpoints, o.maxPerEndpoint, reg); err != nil {
		tb.Fatalf("endpoint.New: %v", err)
	}
	h.rec = presence.NewReconciler(h.backend, h.pool, nil, h.clk, log)
	h.hub, err = presence.New(presence.Config{SubscriptionTTL: defaultTTL}, h.clk, h.rec, st.Subscriptions(), nil, log, reg)
	if err != nil {
		tb.Fatalf("presence.New: %v", err)
	}
	h.rec.SetSink(h.hub)
	h.settings, err = settings.Load(ctx, st.Settings(), h.hub, store.Settings{SubscriptionTTL: defaultTTL, AllowlistDomains: []string{}})
	if err != nil {
		tb.Fatalf("settings.Load: %v", err)
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

	authn := auth.NewAuthenticator(st.Tokens(), nil, h.clk, log)
	ready := func(context.Context) error {
		if !h.ready.Load() {
			return errors.New("starting")
		}
		return nil
	}
	h.streams = stream.NewServer(stream.Config{}, h.hub, log, reg)
	client, err := api.New(api.Config{}, api.Deps{
		Hub: h.hub, Auth: authn, Stream: h.streams, Publisher: h.backend, Fetcher: h.backend,
		Ready: ready, Clock: h.clk, Logger: log, Registry: reg,
	})
	if err != nil {
		tb.Fatalf("api.New: %v", err)
	}
	adminAPI := admin.New(admin.Deps{
		Auth: authn, Settings: h.settings, Hub: h.hub, Pool: h.pool, Ready: ready, Gatherer: reg,
		Logger: log, MaxBody: 1 << 16,
		Extra: func() map[string]any {
			return map[string]any{"stream_clients": h.streams.Clients(), "waiting_contacts": h.rec.Waiting()}
		},
	})
	h.client = httptest.NewServer(client)
	tb.Cleanup(h.client.Close)
	h.admin = httptest.NewServer(adminAPI)
	tb.Cleanup(h.admin.Close)
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

// waitBackend waits until the native backend accepts watches and hears
// publications from the state bus.
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

type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request to srv as token ("" = none). body is sent as is
// when it is a string, JSON-encoded otherwise, and not at all when nil.
func (h *harness) call(srv *httptest.Server, method, path, token string, body any) response {
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
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		h.tb.Fatalf("new request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
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

// adminDo calls the admin API.
func (h *harness) adminDo(method, path, token string, body any) response {
	h.tb.Helper()
	return h.call(h.admin, method, path, token, body)
}

// clientDo calls the client API.
func (h *harness) clientDo(method, path, token string, body any) response {
	h.tb.Helper()
	return h.call(h.client, method, path, token, body)
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

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// wantProblem checks that r is a problem+json answer with status and code.
func wantProblem(tb testing.TB, r response, status int, code string) {
	tb.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Errorf("Content-Type %q, want application/problem+json; body %s", ct, r.body)
	}
	var p problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		tb.Fatalf("decode problem %s: %v", r.body, err)
	}
	type statuses struct{ HTTP, Body int }
	if diff := cmp.Diff(statuses{status, status}, statuses{r.status, p.Status}); diff != "" {
		tb.Errorf("status (-want +got):\n%s\nbody %s", diff, r.body)
	}
	if p.Code != code {
		tb.Errorf("code %q, want %q; body %s", p.Code, code, r.body)
	}
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

// subscription is a client subscription as the client API shows it.
type subscription struct {
	ID       string          `json:"id"`
	Sequence uint64          `json:"sequence"`
	Users    []string        `json:"users"`
	Presence []wire.Presence `json:"presence"`
}

type changes struct {
	Sequence uint64          `json:"sequence"`
	Full     bool            `json:"full"`
	Presence []wire.Presence `json:"presence"`
}

// subscribe creates a subscription of token's user through the client API.
func (h *harness) subscribe(token string, body any) subscription {
	h.tb.Helper()
	return decode[subscription](h.tb, h.clientDo("POST", "/v1/subscriptions", token, body), http.StatusCreated)
}

// settled polls token's subscription id until none of its contacts is
// pending, and returns its full state.
func (h *harness) settled(token, id string) subscription {
	h.tb.Helper()
	var s subscription
	eventually(h.tb, "subscription "+id+" to settle", func() bool {
		s = decode[subscription](h.tb, h.clientDo("GET", "/v1/subscriptions/"+id, token, nil), http.StatusOK)
		for _, p := range s.Presence {
			if p.Reason == status.Pending.String() {
				return false
			}
		}
		return true
	})
	return s
}

func at(t time.Time) *time.Time { return &t }

func offline(user string, since *time.Time) wire.Presence {
	return wire.Presence{User: user, Availability: "Offline", Code: 18000, Since: since}
}

func unknown(user string, r status.Reason) wire.Presence {
	return wire.Presence{User: user, Availability: "Unknown", Code: -1, Reason: r.String()}
}
