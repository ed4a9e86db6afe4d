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
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/api"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/store"
)

// RunOptions are what the process gives Run besides the configuration.
type RunOptions struct {
	// Source is where the configuration was loaded from: Run loads it
	// again with the backend settings saved in the dashboard.
	Source config.Source
	// Console receives the one-time setup token printed at the first
	// start (no admin account yet); nil discards it.
	Console io.Writer
}

// newGateway builds a generation; tests replace it to make one fail.
var newGateway = New

// generation is a configuration to run, asked for by a backend Save.
type generation struct {
	cfg config.Config
	n   int64
	// prev is the saved configuration the Save replaced, put back when
	// the new one cannot be started.
	prev store.SavedConfig
}

// Run runs the gateway on its two listeners until ctx is cancelled, then
// shuts down gracefully within cfg.HTTP.ShutdownTimeout.
//
// It is a supervisor of generations: the store, the state, the dashboard's
// sessions and the listeners live as long as the process, while each
// generation is a Gateway built from the configuration (the file, then the
// values saved in the dashboard, then env and flags). A backend Save in
// the dashboard ends the running generation (streams are told to
// reconnect, in-flight requests finish, the backend releases its
// subscriptions) and starts the next with the new values; client
// subscriptions, which the store keeps, carry over. Requests in between
// get 503 with Retry-After.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, ro RunOptions) error {
	clk := clock.Real{}
	if ro.Console == nil {
		ro.Console = io.Discard
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	load := func(saved map[string]any) (config.Config, error) {
		src := ro.Source
		src.Saved = saved
		return config.Load(src)
	}
	page := &backendPage{
		load: load, saved: st.Config(), clk: clk,
		origins: func(saved map[string]any) map[string]string {
			src := ro.Source
			src.Saved = saved
			return config.Origins(src)
		},
	}
	switch sc, err := st.Config().Get(ctx); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("read the settings saved in the dashboard: %w", err)
	case len(sc.Values) > 0:
		c, err := load(sc.Values)
		if err != nil {
			log.Error("the backend settings saved in the dashboard do not fit this configuration; running with the file's until they are saved again", "err", err)
			page.failed(fmt.Errorf("the saved settings were not applied at start: %w", err))
			break
		}
		cfg = c
		log.Info("backend settings saved in the dashboard applied", "by", sc.UpdatedBy, "at", sc.UpdatedAt)
	}
	stt, err := openState(cfg, clk)
	if err != nil {
		return err
	}
	defer stt.Close()

	var current atomic.Pointer[Gateway]
	dashboard, err := newDashboard(cfg, st, clk, log, current.Load)
	if err != nil {
		return err
	}
	next := make(chan generation, 1)
	var applyMu sync.Mutex
	var lastGen int64 = 1
	page.apply = func(c config.Config, prev store.SavedConfig) int64 {
		applyMu.Lock()
		defer applyMu.Unlock()
		select {
		case g := <-next: // a Save not yet applied: this one replaces it,
			prev = g.prev // and a failure goes back to what ran before both
		default:
		}
		lastGen++
		next <- generation{cfg: c, n: lastGen, prev: prev}
		return lastGen
	}

	client, admin := &swapHandler{}, &swapHandler{}
	clientSrv, clientLn, err := listen(cfg, cfg.Listen, client, log)
	if err != nil {
		return err
	}
	adminSrv, adminLn, err := listen(cfg, cfg.AdminListen, admin, log)
	if err != nil {
		clientLn.Close()
		return err
	}
	serveErr := make(chan error, 2)
	listenCfg := cfg // the listeners' settings (TLS) are not the page's to change
	go func() { serveErr <- serve(listenCfg, clientSrv, clientLn) }()
	go func() { serveErr <- serve(listenCfg, adminSrv, adminLn) }()

	opts := Options{Logger: log, Clock: clk, Store: st, State: stt, Dashboard: dashboard, Backend: page}
	g, err := newGateway(ctx, cfg, opts)
	if err != nil {
		shutdownServers(cfg, log, clientSrv, adminSrv)
		return err
	}
	log.Info("configuration", "config", cfg.Redacted()) // secrets shown as REDACTED
	printSetupToken(ctx, dashboard, ro.Console, cfg, adminLn.Addr(), log)
	gen := int64(1)
	for {
		current.Store(g)
		page.running(cfg, gen)
		comps := g.Start()
		client.set(g.Client)
		admin.set(g.Admin)
		log.Info("presenced started", "version", Version, "listen", clientLn.Addr().String(),
			"admin_listen", adminLn.Addr().String(), "backend", cfg.Backend.Kind, "store", cfg.Store.Kind,
			"state", cfg.State.Kind, "tls", cfg.TLS.Enabled(), "generation", gen)

		var runErr error
		var ng generation
		reload := false
		select {
		case <-ctx.Done():
		case runErr = <-serveErr:
		case runErr = <-comps.Failed():
		case ng = <-next:
			reload = true
		}
		if !reload {
			// The shutdown recipe: tell streams to go away (net/http does
			// not wait for hijacked connections), stop accepting and drain
			// requests, then stop the components (core before backend),
			// and finally close state and store (deferred).
			log.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
			if err := g.Streams.Shutdown(sctx); err != nil {
				log.Warn("streams did not close in time", "err", err)
			}
			cancel()
			shutdownServers(cfg, log, clientSrv, adminSrv)
			if err := comps.Stop(); err != nil && runErr == nil {
				runErr = err
			}
			if err := g.Close(); err != nil {
				log.Warn("close", "err", err)
			}
			log.Info("stopped")
			return runErr
		}

		// A backend Save: end this generation, start the next.
		log.Info("applying the backend settings saved in the dashboard", "generation", ng.n)
		client.pause()
		admin.pause()
		sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
		if err := g.Streams.Shutdown(sctx); err != nil {
			log.Warn("streams did not close in time", "err", err)
		}
		client.drain(sctx, log)
		admin.drain(sctx, log)
		cancel()
		if err := comps.Stop(); err != nil {
			log.Warn("the previous generation stopped with an error", "err", err)
		}
		if err := g.Close(); err != nil {
			log.Warn("close", "err", err)
		}
		prevCfg := cfg
		if g, err = newGateway(ctx, ng.cfg, opts); err == nil {
			cfg, gen = ng.cfg, ng.n
			continue
		}
		log.Error("the saved backend settings could not be applied; the previous ones run again", "err", err)
		page.failed(fmt.Errorf("not applied: %w", err))
		if perr := st.Config().Put(context.Background(), ng.prev); perr != nil {
			log.Error("could not put back the previous saved settings", "err", perr)
		}
		if g, err = newGateway(ctx, prevCfg, opts); err != nil {
			shutdownServers(cfg, log, clientSrv, adminSrv)
			return fmt.Errorf("restart with the previous settings: %w", err)
		}
	}
}

// printSetupToken prints a one-time setup token on the console when no
// admin account exists, so that the first one can be made in the
// browser. The log says that it was printed, never the token.
func printSetupToken(ctx context.Context, m interface {
	SetupNeeded(context.Context) (bool, error)
	SetupToken(context.Context) (string, error)
}, console io.Writer, cfg config.Config, addr net.Addr, log *slog.Logger) {
	needed, err := m.SetupNeeded(ctx)
	if err != nil || !needed {
		return
	}
	token, err := m.SetupToken(ctx)
	if err != nil {
		log.Warn("no setup token", "err", err)
		return
	}
	scheme := "http"
	if cfg.TLS.Enabled() {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s/admin/setup", scheme, addr)
	fmt.Fprintf(console, "\nNo admin account exists yet. Create the first one at %s\nwith this one-time setup token (valid 24 hours, until used or until presenced restarts):\n\n    %s\n\nor run: presenced admin account create NAME\n\n", url, token)
	log.Info("no admin account exists: a one-time setup token was printed on the console", "setup_url", url)
}

// swapHandler serves the running generation's handler, 503 between
// generations, and counts the requests in flight so that a generation is
// stopped only after they finish.
type swapHandler struct {
	h        atomic.Pointer[http.Handler]
	inflight atomic.Int64
}

func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }

// pause makes new requests wait for the next generation (503).
func (s *swapHandler) pause() { s.h.Store(nil) }

// drain waits for the requests in flight, at most until ctx ends.
func (s *swapHandler) drain(ctx context.Context, log *slog.Logger) {
	for s.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			log.Warn("requests still in flight when the generation was stopped", "requests", s.inflight.Load())
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1) // before the load, so that drain after pause sees it
	defer s.inflight.Add(-1)
	h := s.h.Load()
	if h == nil {
		w.Header().Set("Retry-After", "1")
		api.WriteProblem(w, r, nil, api.NewProblem(http.StatusServiceUnavailable, api.CodeUnavailable, "presenced is applying new backend settings; retry in a moment"))
		return
	}
	(*h).ServeHTTP(w, r)
}

func shutdownServers(cfg config.Config, log *slog.Logger, srvs ...*http.Server) {
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	for _, srv := range srvs {
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("listener did not drain in time", "err", err)
		}
	}
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
