// Package app is presenced's composition root: it builds every component
// from the configuration with plain switches, runs them under one errgroup
// and owns the shutdown recipe.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/presenced/presenced/internal/admin"
	"github.com/presenced/presenced/internal/allowlist"
	"github.com/presenced/presenced/internal/api"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/backend/native"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/endpoint"
	"github.com/presenced/presenced/internal/presence"
	"github.com/presenced/presenced/internal/push"
	"github.com/presenced/presenced/internal/settings"
	"github.com/presenced/presenced/internal/state"
	"github.com/presenced/presenced/internal/state/memory"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
	"github.com/presenced/presenced/internal/stream"
)

// Version is set at build time with -ldflags "-X .../internal/app.Version=...".
var Version = "dev"

// DefaultEndpoint names the single endpoint used when none is configured.
const DefaultEndpoint = "default"

// NewLogger returns the JSON (or text) logger of cfg writing to w.
func NewLogger(cfg config.LogConfig, w io.Writer) *slog.Logger {
	return slog.New(cfg.Handler(w))
}

// openStore opens the configured store.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (store.Store, error) {
	switch cfg.Store.Kind {
	case config.StoreSQLite:
		st, err := sqlite.Open(ctx, cfg.SQLitePath(), log.With("component", "store"))
		if err != nil {
			return nil, fmt.Errorf("open sqlite store: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("store.kind %q is not available in this build", cfg.Store.Kind)
}

func openState(cfg config.Config, clk clock.Clock) (state.State, error) {
	switch cfg.State.Kind {
	case config.StateMemory:
		return memory.New(clk), nil
	}
	return nil, fmt.Errorf("state.kind %q is not available in this build", cfg.State.Kind)
}

func newBackend(cfg config.Config, st state.State, clk clock.Clock, log *slog.Logger) (backend.Backend, error) {
	switch cfg.Backend.Kind {
	case config.BackendNative:
		return native.New(st, clk, 0, log.With("component", "backend", "backend", "native")), nil
	case config.BackendSIP, config.BackendXMPP:
		return nil, fmt.Errorf("backend.kind %q is not available in this build yet", cfg.Backend.Kind)
	}
	return nil, fmt.Errorf("backend.kind %q is unknown", cfg.Backend.Kind)
}

func endpointIDs(cfg config.Config) []string {
	if len(cfg.Backend.Endpoints) == 0 {
		return []string{DefaultEndpoint}
	}
	return cfg.Backend.Endpoints
}

// hintAdapter turns the hub's push hints into the pusher's.
type hintAdapter struct{ p *push.Pusher }

func (a hintAdapter) Enqueue(h presence.Hint) {
	a.p.Enqueue(push.Hint{PushToken: h.PushToken, User: h.User, Subscription: h.Subscription, Key: h.Key, Sequence: h.Sequence})
}

// Run runs the gateway until ctx is cancelled, then shuts down gracefully
// within cfg.HTTP.ShutdownTimeout.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	clk := clock.Real{}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "presenced_build_info", Help: "Build information.", ConstLabels: prometheus.Labels{"version": Version},
	}, func() float64 { return 1 }))

	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	shared, err := openState(cfg, clk)
	if err != nil {
		return err
	}
	defer shared.Close()
	be, err := newBackend(cfg, shared, clk, log)
	if err != nil {
		return err
	}
	pool, err := endpoint.New(endpointIDs(cfg), cfg.Backend.MaxSubscriptionsPerEndpoint, reg)
	if err != nil {
		return err
	}

	var pusher *push.Pusher
	var hints presence.HintSink
	if cfg.Push.Enabled() {
		pusher = push.New(push.Config{
			URL: cfg.Push.WebhookURL, Secret: cfg.Push.Secret,
			Timeout: cfg.Push.Timeout, MaxAttempts: cfg.Push.MaxAttempts,
		}, &http.Client{Timeout: cfg.Push.Timeout}, st.Hints(), clk, log.With("component", "push"), reg)
		hints = hintAdapter{pusher}
	}

	rec := presence.NewReconciler(be, pool, nil, clk, log.With("component", "reconciler"))
	hub, err := presence.New(presence.Config{
		SubscriptionTTL:         cfg.Presence.SubscriptionTTL,
		MaxContacts:             cfg.Presence.MaxContactsPerRequest,
		MaxSubscriptionsPerUser: cfg.Presence.MaxSubscriptionsPerUser,
		CoalesceInterval:        cfg.Presence.CoalesceInterval,
		WatchLinger:             cfg.Presence.WatchLinger,
	}, clk, rec, st.Subscriptions(), hints, log.With("component", "hub"), reg)
	if err != nil {
		return err
	}
	rec.SetSink(hub)

	mgr, err := settings.Load(ctx, st.Settings(), hub, store.Settings{
		SubscriptionTTL:  cfg.Presence.SubscriptionTTL,
		AllowlistEnabled: cfg.Allowlist.Enabled,
		AllowlistDomains: mustDomains(cfg.Allowlist.Domains),
	})
	if err != nil {
		return err
	}
	n, err := hub.Load(ctx)
	if err != nil {
		return err
	}
	log.Info("subscriptions restored", "count", n)

	var oidcVerifier *auth.OIDCVerifier
	if cfg.Auth.OIDC.Enabled() {
		oidcVerifier = auth.NewOIDCVerifier(auth.OIDCConfig{
			Issuer: cfg.Auth.OIDC.Issuer, Audience: cfg.Auth.OIDC.Audience, EmailClaim: cfg.Auth.OIDC.EmailClaim,
			HTTPClient: &http.Client{Timeout: 10 * time.Second},
		}, log.With("component", "oidc"))
	}
	authn := auth.NewAuthenticator(st.Tokens(), oidcVerifier, clk, log.With("component", "auth"))
	streams := stream.NewServer(stream.Config{
		QueueSize: cfg.Stream.QueueSize, PingInterval: cfg.Stream.PingInterval,
	}, hub, log.With("component", "stream"), reg)

	// phase is "starting", then "" (ready), then "shutting down".
	var phase atomic.Value
	phase.Store("starting")
	ready := func(ctx context.Context) error {
		if p := phase.Load().(string); p != "" {
			return errors.New(p)
		}
		if hc, ok := be.(backend.HealthChecker); ok {
			if err := hc.Healthy(ctx); err != nil {
				return fmt.Errorf("backend: %w", err)
			}
		}
		if _, err := st.Settings().Get(ctx); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		return nil
	}

	publisher, _ := be.(backend.Publisher)
	fetcher, _ := be.(backend.Fetcher)
	var limiter api.Limiter
	if cfg.Auth.RateLimit.RequestsPerSecond > 0 {
		limiter = auth.NewRateLimiter(cfg.Auth.RateLimit.RequestsPerSecond, cfg.Auth.RateLimit.Burst, clk)
	}
	client, err := api.New(api.Config{
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes, MaxContacts: cfg.Presence.MaxContactsPerRequest,
	}, api.Deps{
		Hub: hub, Auth: authn, Limiter: limiter, Stream: streams,
		Publisher: publisher, Fetcher: fetcher, Ready: ready, Clock: clk,
		Logger: log.With("component", "api"), Registry: reg,
	})
	if err != nil {
		return err
	}
	adminAPI := admin.New(admin.Deps{
		Auth: authn, Settings: mgr, Hub: hub, Pool: pool, Ready: ready, Gatherer: reg,
		Logger: log.With("component", "admin"), MaxBody: cfg.HTTP.MaxBodyBytes,
		Extra: func() map[string]any {
			return map[string]any{
				"stream_clients":   streams.Clients(),
				"waiting_contacts": rec.Waiting(),
			}
		},
	})

	clientSrv, clientLn, err := listen(cfg, cfg.Listen, client, log)
	if err != nil {
		return err
	}
	adminSrv, adminLn, err := listen(cfg, cfg.AdminListen, adminAPI, log)
	if err != nil {
		clientLn.Close()
		return err
	}

	// Components run under their own contexts, cancelled only after the
	// listeners have drained, so in-flight requests still reach them. The
	// backend outlives the reconciler, which unwatches through it on the
	// way out.
	base := context.WithoutCancel(ctx)
	backendCtx, stopBackend := context.WithCancel(base)
	defer stopBackend()
	coreCtx, stopCore := context.WithCancel(base)
	defer stopCore()
	var backendGroup, core errgroup.Group
	failed := make(chan error, 4)
	goReport := func(g *errgroup.Group, name string, f func() error) {
		g.Go(func() error {
			err := f()
			if err != nil {
				failed <- fmt.Errorf("%s: %w", name, err)
			}
			return err
		})
	}
	goReport(&backendGroup, "backend", func() error { return be.Run(backendCtx, hub) })
	goReport(&core, "reconciler", func() error { return rec.Run(coreCtx) })
	goReport(&core, "hub", func() error { return hub.Run(coreCtx) })
	if pusher != nil {
		goReport(&core, "push", func() error { return pusher.Run(coreCtx) })
	}

	serveErr := make(chan error, 2)
	go func() { serveErr <- serve(cfg, clientSrv, clientLn) }()
	go func() { serveErr <- serve(cfg, adminSrv, adminLn) }()
	phase.Store("")
	log.Info("presenced started", "version", Version, "listen", clientLn.Addr().String(),
		"admin_listen", adminLn.Addr().String(), "backend", cfg.Backend.Kind, "store", cfg.Store.Kind,
		"state", cfg.State.Kind, "tls", cfg.TLS.Enabled())

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
	case runErr = <-failed:
	}

	// The shutdown recipe: stop being ready, tell streams to go away
	// (net/http does not wait for hijacked connections), stop accepting
	// and drain requests, then stop the core (the hub persists refreshes
	// and sequences, the pusher persists pending hints, the reconciler
	// releases watches), then the backend, and finally close state and
	// store (deferred).
	log.Info("shutting down")
	phase.Store("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := streams.Shutdown(sctx); err != nil {
		log.Warn("streams did not close in time", "err", err)
	}
	for _, srv := range []*http.Server{clientSrv, adminSrv} {
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("listener did not drain in time", "err", err)
		}
	}
	stopCore()
	coreErr := core.Wait()
	stopBackend()
	if err := errors.Join(coreErr, backendGroup.Wait()); err != nil && runErr == nil {
		runErr = err
	}
	log.Info("stopped")
	return runErr
}

func mustDomains(in []string) []string {
	ds, err := allowlist.Normalize(in)
	if err != nil {
		return []string{} // config validation has already refused them
	}
	return ds
}

func listen(cfg config.Config, addr string, h http.Handler, log *slog.Logger) (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if !cfg.TLS.Enabled() && !isLoopback(ln.Addr()) {
		log.Warn("serving plain HTTP on a non-loopback address; set tls.cert_file and tls.key_file", "addr", ln.Addr().String())
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
	return srv, ln, nil
}

func serve(cfg config.Config, srv *http.Server, ln net.Listener) error {
	var err error
	if cfg.TLS.Enabled() {
		err = srv.ServeTLS(ln, cfg.TLS.CertFile, cfg.TLS.KeyFile)
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
