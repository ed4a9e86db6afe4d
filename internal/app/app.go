// Package app is presenced's composition root: it builds every component
// from the configuration with plain switches (gateway.go), runs them, and
// owns the shutdown recipe (run.go).
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/presenced/presenced/internal/allowlist"
	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/backend/native"
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

func mustDomains(in []string) []string {
	ds, err := allowlist.Normalize(in)
	if err != nil {
		return []string{} // config validation has already refused them
	}
	return ds
}
