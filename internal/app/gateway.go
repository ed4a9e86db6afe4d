package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/presenced/presenced/internal/admin"
	"github.com/presenced/presenced/internal/adminauth"
	"github.com/presenced/presenced/internal/api"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/directory"
	"github.com/presenced/presenced/internal/endpoint"
	"github.com/presenced/presenced/internal/presence"
	"github.com/presenced/presenced/internal/push"
	"github.com/presenced/presenced/internal/settings"
	"github.com/presenced/presenced/internal/state"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/stream"
)

// Options are what the process (or a test) supplies besides the
// configuration.
type Options struct {
	Logger *slog.Logger // nil = discard
	Clock  clock.Clock  // nil = the wall clock
	// Hints receives push hints instead of the configured relay (tests).
	Hints presence.HintSink
	// Directory replaces the configured directory (tests).
	Directory directory.Directory
	// Store and State, when set, are used instead of opening the
	// configured ones, and Close leaves them open: the supervisor keeps
	// them across generations.
	Store store.Store
	State state.State
	// Dashboard, when set, is the dashboard's login manager, kept across
	// generations so that sessions survive a backend Save.
	Dashboard *adminauth.Manager
	// Backend is the dashboard's backend page; nil builds one that can
	// show and test but not save.
	Backend *backendPage
}

// Gateway is presenced with every component built and wired, not yet
// serving. New builds it; Start runs its components; Client and Admin are
// the two listeners' handlers; Close releases the store and state.
type Gateway struct {
	cfg config.Config
	log *slog.Logger
	clk clock.Clock

	Registry   *prometheus.Registry
	Store      store.Store
	State      state.State
	Backend    backend.Backend
	Directory  directory.Directory // nil without one
	Pool       *endpoint.Pool
	Reconciler *presence.Reconciler
	Hub        *presence.Hub
	Settings   *settings.Manager
	Streams    *stream.Server
	Pusher     *push.Pusher // nil when no relay is configured

	Client http.Handler // the client API
	Admin  http.Handler // the admin API, metrics and health

	phase atomic.Value // string: "starting", "" (ready), "shutting down"

	sharedStore, sharedState bool // given by Options: not closed by Close
	page                     *backendPage
	dashboard                *adminauth.Manager
	status                   *componentStatus
}

// New builds the gateway from cfg: it opens the store and state, loads the
// settings and the persisted subscriptions, and wires every component.
func New(ctx context.Context, cfg config.Config, opts Options) (g *Gateway, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	g = &Gateway{cfg: cfg, log: opts.Logger, clk: opts.Clock, Registry: prometheus.NewRegistry()}
	g.phase.Store("starting")
	built := g // the error returns below set g to nil
	defer func() {
		if err != nil {
			built.Close()
		}
	}()
	log, clk, reg := g.log, g.clk, g.Registry
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "presenced_build_info", Help: "Build information.", ConstLabels: prometheus.Labels{"version": Version},
	}, func() float64 { return 1 }))

	g.Store, g.State, g.sharedStore, g.sharedState = opts.Store, opts.State, opts.Store != nil, opts.State != nil
	if g.Store == nil {
		if g.Store, err = openStore(ctx, cfg, log); err != nil {
			return nil, err
		}
	}
	if g.State == nil {
		if g.State, err = openState(cfg, clk); err != nil {
			return nil, err
		}
	}
	g.dashboard, g.page = opts.Dashboard, opts.Backend
	if g.Directory, err = openDirectory(cfg, opts.Directory, clk, log, reg); err != nil {
		return nil, err
	}
	if g.Backend, err = newBackend(cfg, g.State, directoryResolver(g.Directory, cfg.Backend.Kind), clk, log, reg); err != nil {
		return nil, err
	}
	if g.Pool, err = endpoint.New(endpointIDs(cfg), cfg.Backend.MaxSubscriptionsPerEndpoint, reg); err != nil {
		return nil, err
	}
	hints := opts.Hints
	if hints == nil && cfg.Push.Enabled() {
		g.Pusher = push.New(push.Config{
			URL: cfg.Push.WebhookURL, Secret: cfg.Push.Secret,
			Timeout: cfg.Push.Timeout, MaxAttempts: cfg.Push.MaxAttempts,
		}, &http.Client{Timeout: cfg.Push.Timeout}, g.Store.Hints(), clk, log.With("component", "push"), reg)
		hints = g.Pusher
	}
	g.Reconciler = presence.NewReconciler(g.Backend, g.Pool, nil, clk, log.With("component", "reconciler"))
	g.Hub, err = presence.New(presence.Config{
		SubscriptionTTL:         cfg.Presence.SubscriptionTTL,
		MaxContacts:             cfg.Presence.MaxContactsPerRequest,
		MaxSubscriptionsPerUser: cfg.Presence.MaxSubscriptionsPerUser,
		CoalesceInterval:        cfg.Presence.CoalesceInterval,
		WatchLinger:             cfg.Presence.WatchLinger,
	}, clk, g.Reconciler, g.Store.Subscriptions(), hints, log.With("component", "hub"), reg)
	if err != nil {
		return nil, err
	}
	g.Reconciler.SetSink(g.Hub)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "presenced_waiting_contacts",
		Help: "Wanted contacts waiting for endpoint capacity (Unknown, no_capacity).",
	}, func() float64 { return float64(g.Reconciler.Waiting()) }))
	if dc, ok := g.State.(state.DropCounter); ok {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "presenced_state_bus_dropped_total",
			Help: "State bus deliveries dropped because a subscriber could not keep up.",
		}, func() float64 { return float64(dc.BusDropped()) }))
	}

	g.Settings, err = settings.Load(ctx, g.Store.Settings(), g.Hub, store.Settings{
		SubscriptionTTL:  cfg.Presence.SubscriptionTTL,
		AllowlistEnabled: cfg.Allowlist.Enabled,
		AllowlistDomains: mustDomains(cfg.Allowlist.Domains),
	})
	if err != nil {
		return nil, err
	}
	n, err := g.Hub.Load(ctx)
	if err != nil {
		return nil, err
	}
	log.Info("subscriptions restored", "count", n)
	if err := g.buildHandlers(); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *Gateway) buildHandlers() error {
	cfg, log, clk := g.cfg, g.log, g.clk
	var oidcVerifier *auth.OIDCVerifier
	if cfg.Auth.OIDC.Enabled() {
		oidcVerifier = auth.NewOIDCVerifier(auth.OIDCConfig{
			Issuer: cfg.Auth.OIDC.Issuer, Audience: cfg.Auth.OIDC.Audience, EmailClaim: cfg.Auth.OIDC.EmailClaim,
			HTTPClient: &http.Client{Timeout: 10 * time.Second}, Clock: clk,
		}, log.With("component", "oidc"))
	}
	authn := auth.NewAuthenticator(g.Store.Tokens(), oidcVerifier, clk, log.With("component", "auth"))
	g.Streams = stream.NewServer(stream.Config{
		QueueSize: cfg.Stream.QueueSize, PingInterval: cfg.Stream.PingInterval,
		WriteDelay: cfg.Stream.WriteDelay, Clock: clk,
	}, g.Hub, log.With("component", "stream"), g.Registry)

	publisher, _ := g.Backend.(backend.Publisher)
	fetcher, _ := g.Backend.(backend.Fetcher)
	var limiter api.Limiter
	if cfg.Auth.RateLimit.RequestsPerSecond > 0 {
		limiter = auth.NewRateLimiter(cfg.Auth.RateLimit.RequestsPerSecond, cfg.Auth.RateLimit.Burst, clk)
	}
	client, err := api.New(api.Config{
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes, MaxContacts: cfg.Presence.MaxContactsPerRequest,
	}, api.Deps{
		Hub: g.Hub, Auth: authn, Limiter: limiter, Stream: g.Streams,
		Publisher: publisher, Fetcher: fetcher, Directory: g.Directory, Ready: g.Ready, Clock: clk,
		Logger: log.With("component", "api"), Registry: g.Registry,
	})
	if err != nil {
		return err
	}
	g.Client = client
	if g.dashboard == nil {
		if g.dashboard, err = newDashboard(cfg, g.Store, clk, log, func() *Gateway { return g }); err != nil {
			return err
		}
	}
	if g.page == nil {
		g.page = &backendPage{
			load:    func(saved map[string]any) (config.Config, error) { return config.Overlay(cfg, saved) },
			origins: func(map[string]any) map[string]string { return map[string]string{} },
			saved:   g.Store.Config(), clk: clk,
		}
		g.page.running(cfg, 1)
	}
	g.status = newComponentStatus(g, clk)
	g.Admin = admin.New(admin.Deps{
		Auth: authn, Settings: g.Settings, Tokens: g.Store.Tokens(), Clock: clk, Hub: g.Hub, Pool: g.Pool, Ready: g.Ready, Gatherer: g.Registry,
		Logger: log.With("component", "admin"), MaxBody: cfg.HTTP.MaxBodyBytes, Dashboard: g.dashboard,
		Backend: g.page, Audit: g.Store.Audit(),
		Extra: func() map[string]any {
			backendState, directoryState := g.status.get()
			return map[string]any{
				"stream_clients":   g.Streams.Clients(),
				"waiting_contacts": g.Reconciler.Waiting(),
				"backend":          backendState,
				"directory":        directoryState,
			}
		},
	})
	return nil
}

// Ready returns nil when the gateway serves, or why it does not.
func (g *Gateway) Ready(ctx context.Context) error {
	if p := g.phase.Load().(string); p != "" {
		return errors.New(p)
	}
	if hc, ok := g.Backend.(backend.HealthChecker); ok {
		if err := hc.Healthy(ctx); err != nil {
			return fmt.Errorf("backend: %w", err)
		}
	}
	if _, err := g.Store.Settings().Get(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Components are the gateway's running goroutines, started by Start.
type Components struct {
	g                     *Gateway
	stopCore, stopBackend context.CancelFunc
	core, backend         errgroup.Group
	failed                chan error
}

// Start runs the backend connector, the reconciler, the hub's sweeper and
// the pusher, and marks the gateway ready. Stop them with Stop.
func (g *Gateway) Start() *Components {
	// The backend outlives the core: the reconciler unwatches through it
	// on the way out.
	backendCtx, stopBackend := context.WithCancel(context.Background())
	coreCtx, stopCore := context.WithCancel(context.Background())
	c := &Components{g: g, stopCore: stopCore, stopBackend: stopBackend, failed: make(chan error, 4)}
	run := func(grp *errgroup.Group, name string, f func() error) {
		grp.Go(func() error {
			err := f()
			if err != nil {
				c.failed <- fmt.Errorf("%s: %w", name, err)
			}
			return err
		})
	}
	run(&c.backend, "backend", func() error { return g.Backend.Run(backendCtx, g.Hub) })
	run(&c.core, "reconciler", func() error { return g.Reconciler.Run(coreCtx) })
	run(&c.core, "hub", func() error { return g.Hub.Run(coreCtx) })
	if g.Pusher != nil {
		run(&c.core, "push", func() error { return g.Pusher.Run(coreCtx) })
	}
	g.phase.Store("")
	return c
}

// Failed delivers the error of a component that stopped on its own.
func (c *Components) Failed() <-chan error { return c.failed }

// Stop stops the core (the hub persists refreshes and exact sequences, the
// pusher persists pending hints, the reconciler releases its watches), then
// the backend, and waits for all of them.
func (c *Components) Stop() error {
	c.g.phase.Store("shutting down")
	c.stopCore()
	coreErr := c.core.Wait()
	c.stopBackend()
	return errors.Join(coreErr, c.backend.Wait())
}

// Close releases the directory, the state and the store (those given by
// Options stay open).
func (g *Gateway) Close() error {
	var errs []error
	if c, ok := g.Directory.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	if g.State != nil && !g.sharedState {
		errs = append(errs, g.State.Close())
	}
	if g.Store != nil && !g.sharedStore {
		errs = append(errs, g.Store.Close())
	}
	return errors.Join(errs...)
}
