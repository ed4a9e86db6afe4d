// Package app is presenced's composition root: it builds every component
// from the configuration with plain switches (gateway.go), runs them, and
// owns the shutdown recipe (run.go).
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/allowlist"
	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/backend/native"
	sipbackend "github.com/presenced/presenced/internal/backend/sip"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/state"
	"github.com/presenced/presenced/internal/state/memory"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
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

func newBackend(cfg config.Config, st state.State, resolve backend.Resolve, clk clock.Clock, log *slog.Logger, reg prometheus.Registerer) (backend.Backend, error) {
	switch cfg.Backend.Kind {
	case config.BackendNative:
		return native.New(st, clk, 0, log.With("component", "backend", "backend", "native")), nil
	case config.BackendSIP:
		sc, err := sipTransport(cfg.Backend.SIP)
		if err != nil {
			return nil, err
		}
		sc.Expires, sc.Clock, sc.Primary, sc.Registry, sc.Resolve = cfg.Backend.SIP.Expires, clk, endpointIDs(cfg)[0], reg, resolve
		sc.Logger = log.With("component", "backend", "backend", "sip")
		b, err := sipbackend.New(sc)
		if err != nil {
			return nil, fmt.Errorf("sip backend: %w", err)
		}
		return b, nil
	case config.BackendXMPP:
		return newXMPPBackend(cfg, backendOptions{clk: clk, log: log, reg: reg, resolve: resolve})
	}
	return nil, fmt.Errorf("backend.kind %q is unknown", cfg.Backend.Kind)
}

func endpointIDs(cfg config.Config) []string {
	switch {
	case len(cfg.Backend.Endpoints) > 0:
		return cfg.Backend.Endpoints
	case cfg.Backend.Kind == config.BackendSIP:
		return DefaultSIPEndpoints(hostname(), cfg.Backend.SIP.Domain, cfg.Backend.SIP.EndpointCount)
	case cfg.Backend.Kind == config.BackendXMPP:
		return xmppEndpoints(cfg.Backend.XMPP)
	}
	return []string{DefaultEndpoint}
}

// backendOptions are what every connector is built with.
type backendOptions struct {
	clk     clock.Clock
	log     *slog.Logger
	reg     prometheus.Registerer
	resolve backend.Resolve // nil: the backend's own rule
}

// DefaultSIPEndpoints are the n SIP identities used when no endpoint is
// configured: sip:presence_<host>@<domain>, then
// sip:presence_<host>-01@<domain> and so on, the host name lower case with
// anything but letters, digits and '-' dropped.
func DefaultSIPEndpoints(host, domain string, n int) []string {
	var b strings.Builder
	for _, r := range strings.ToLower(host) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		}
	}
	base := "sip:presence_" + b.String()
	ids := []string{base + "@" + domain}
	for i := 1; i < n; i++ {
		ids = append(ids, fmt.Sprintf("%s-%02d@%s", base, i, domain))
	}
	return ids
}

// hostname is the machine's short host name ("host" if unknown).
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "host"
	}
	short, _, _ := strings.Cut(h, ".")
	return short
}

func mustDomains(in []string) []string {
	ds, err := allowlist.Normalize(in)
	if err != nil {
		return []string{} // config validation has already refused them
	}
	return ds
}
