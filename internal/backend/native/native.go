package native

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/state"
	"github.com/presenced/presenced/internal/status"
)

const Topic = "native.presence"
const DefaultTTL = 24 * time.Hour

type Backend struct {
	st  state.State
	clk clock.Clock
	log *slog.Logger
	ttl time.Duration

	mu      sync.Mutex
	sink    backend.Sink
	watches map[string]map[int]struct{}
}

func New(st state.State, clk clock.Clock, ttl time.Duration, logger *slog.Logger) *Backend {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if logger == nil { logger = slog.New(slog.DiscardHandler) } // tests pass nil
	return &Backend{st: st, clk: clk, ttl: ttl, log: logger, watches: make(map[string]map[int]struct{})}
}

type message struct {
	User         string    `json:"user"`
	Availability uint8     `json:"a"`
	Activity     string    `json:"act,omitempty"`
	Note         string    `json:"note,omitempty"`
	Since        time.Time `json:"since"`
}

func (b *Backend) Run(ctx context.Context, sink backend.Sink) error {
	b.mu.Lock()
	b.sink = sink
	b.mu.Unlock()
	unsubscribe, err := b.st.Bus().Subscribe(ctx, Topic, b.onMessage)
	if err != nil {
		return fmt.Errorf("native backend: subscribe to %s: %w", Topic, err)
	}
	defer unsubscribe()
	<-ctx.Done()
	return nil
}

func (b *Backend) onMessage(payload []byte) {
	var m message
	if err := json.Unmarshal(payload, &m); err != nil {
		b.log.Warn("native backend: bad bus message", "err", err)
		return
	}
	p := status.Presence{Availability: status.Availability(m.Availability), Activity: m.Activity, Note: m.Note, Since: m.Since}
	b.mu.Lock()
	_, watched := b.watches[m.User]
	sink := b.sink
	b.mu.Unlock()
	if watched && sink != nil {
		sink.Update(m.User, p)
	}
}

func (b *Backend) Watch(ctx context.Context, ep backend.Endpoint, contact string) error {
	p, err := b.Fetch(ctx, contact)
	if err != nil {
		return fmt.Errorf("native watch %s: %w", contact, err)
	}
	b.mu.Lock()
	eps := b.watches[contact]
	if eps == nil {
		eps = make(map[int]struct{})
		b.watches[contact] = eps
	}
	eps[ep.Index] = struct{}{}
	sink := b.sink
	b.mu.Unlock()
	if sink == nil {
		return errors.New("native watch: backend not running")
	}
	sink.Update(contact, p)
	return nil
}

func (b *Backend) Unwatch(_ context.Context, ep backend.Endpoint, contact string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if eps := b.watches[contact]; eps != nil {
		delete(eps, ep.Index)
		if len(eps) == 0 {
			delete(b.watches, contact)
		}
	}
	return nil
}

func (b *Backend) Watching() map[string][]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string][]int, len(b.watches))
	for c, eps := range b.watches {
		for i := range eps {
			out[c] = append(out[c], i)
		}
	}
	return out
}
// Publish records user's presence and announces it. An unset Since is
// the current time.
func (b *Backend) Publish(ctx context.Context, user string, p status.Presence) error {
	if p.Since.IsZero() {
		p.Since = b.clk.Now().UTC().Truncate(time.Millisecond)
	}
	p.Reason = status.NoReason
	if err := b.st.Presence().Set(ctx, user, p, b.ttl); err != nil {
		return fmt.Errorf("native publish: %w", err)
	}
	payload, err := json.Marshal(message{User: user, Availability: uint8(p.Availability), Activity: p.Activity, Note: p.Note, Since: p.Since})
	if err != nil {
		return fmt.Errorf("native publish: %w", err)
	}
	if err := b.st.Bus().Publish(ctx, Topic, payload); err != nil {
		return fmt.Errorf("native publish: announce: %w", err)
	}
	return nil
}

// Fetch returns contact's published presence, or Offline.
func (b *Backend) Fetch(ctx context.Context, contact string) (status.Presence, error) {
	p, err := b.st.Presence().Get(ctx, contact)
	switch {
	case errors.Is(err, state.ErrNotFound):
		return status.Presence{Availability: status.Offline}, nil
	case err != nil:
		return status.Presence{}, fmt.Errorf("native fetch: %w", err)
	}
	return p, nil
}

// Healthy reports whether the shared state answers.
func (b *Backend) Healthy(ctx context.Context) error {
	if _, err := b.st.Presence().Get(ctx, "healthcheck@presenced.invalid"); err != nil && !errors.Is(err, state.ErrNotFound) {
		return fmt.Errorf("native backend state: %w", err)
	}
	return nil
}

