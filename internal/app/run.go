package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/presenced/presenced/internal/config"
)

// Run runs the gateway on its two listeners until ctx is cancelled, then
// shuts down gracefully within cfg.HTTP.ShutdownTimeout.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	g, err := New(ctx, cfg, Options{Logger: log})
	if err != nil {
		return err
	}
	defer g.Close()
	clientSrv, clientLn, err := listen(cfg, cfg.Listen, g.Client, log)
	if err != nil {
		return err
	}
	adminSrv, adminLn, err := listen(cfg, cfg.AdminListen, g.Admin, log)
	if err != nil {
		clientLn.Close()
		return err
	}
	log.Info("configuration", "config", cfg.Redacted()) // secrets shown as REDACTED
	comps := g.Start()
	serveErr := make(chan error, 2)
	go func() { serveErr <- serve(cfg, clientSrv, clientLn) }()
	go func() { serveErr <- serve(cfg, adminSrv, adminLn) }()
	log.Info("presenced started", "version", Version, "listen", clientLn.Addr().String(),
		"admin_listen", adminLn.Addr().String(), "backend", cfg.Backend.Kind, "store", cfg.Store.Kind,
		"state", cfg.State.Kind, "tls", cfg.TLS.Enabled())

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
	case runErr = <-comps.Failed():
	}

	// The shutdown recipe: tell streams to go away (net/http does not wait
	// for hijacked connections), stop accepting and drain requests, then
	// stop the components (core before backend), and finally close state
	// and store (deferred).
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := g.Streams.Shutdown(sctx); err != nil {
		log.Warn("streams did not close in time", "err", err)
	}
	for _, srv := range []*http.Server{clientSrv, adminSrv} {
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("listener did not drain in time", "err", err)
		}
	}
	if err := comps.Stop(); err != nil && runErr == nil {
		runErr = err
	}
	log.Info("stopped")
	return runErr
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
