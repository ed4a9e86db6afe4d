// Package api is the client HTTP API of presenced (API.md §3), the
// compatibility API of the vendor's presence REST shape (§4), and the one
// place where errors become application/problem+json.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/directory"
	"github.com/presenced/presenced/internal/presence"
)

// Authenticator checks client bearer tokens.
type Authenticator interface {
	Client(ctx context.Context, bearer string) (auth.Principal, error)
}

// Limiter decides whether a token may make another call now.
type Limiter interface {
	Allow(id string) (ok bool, retryAfter time.Duration)
}

// Streamer serves GET /v1/stream for an authenticated user.
type Streamer interface {
	Serve(w http.ResponseWriter, r *http.Request, user string) error
}

// Config is the API's configuration.
type Config struct {
	MaxBodyBytes int64 // request bodies beyond this are payload_too_large
	MaxContacts  int   // per request
}

// Deps are the components the API drives.
type Deps struct {
	Hub       *presence.Hub
	Auth      Authenticator
	Limiter   Limiter             // nil = unlimited
	Stream    Streamer            // nil = no stream endpoint
	Publisher backend.Publisher   // nil = PUT /v1/me/presence is not implemented
	Fetcher   presence.Fetcher    // one-shot lookups of unwatched contacts; may be nil
	Directory directory.Directory // contact cards and search; nil = not configured (501)
	Ready     func(ctx context.Context) error
	Clock     clock.Clock // nil = the wall clock
	Logger    *slog.Logger
	Registry  prometheus.Registerer
}

// Server is the client API handler.
type Server struct {
	cfg Config
	d   Deps
	mux *http.ServeMux
	m   *httpMetrics
}

// New returns the client API.
func New(cfg Config, d Deps) (*Server, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxContacts <= 0 {
		cfg.MaxContacts = 1000
	}
	m, err := newHTTPMetrics("client", d.Registry)
	if err != nil {
		return nil, err
	}
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	s := &Server{cfg: cfg, d: d, mux: http.NewServeMux(), m: m}
	s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	Recover(s.d.Logger, s.m.instrument(s.mux)).ServeHTTP(w, r)
}

// authed is a handler of an authenticated client call.
type authed func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

func (s *Server) routes() {
	s.handle("POST /v1/presence/query", s.query)
	s.handle("POST /v1/subscriptions", s.subscribe)
	s.handle("GET /v1/subscriptions", s.listSubscriptions)
	s.handle("GET /v1/subscriptions/{id}", s.getSubscription)
	s.handle("GET /v1/subscriptions/{id}/changes", s.changes)
	s.handle("PATCH /v1/subscriptions/{id}", s.patch)
	s.handle("POST /v1/subscriptions/{id}/refresh", s.refresh)
	s.handle("DELETE /v1/subscriptions/{id}", s.deleteSubscription)
	s.handle("GET /v1/stream", s.stream)
	s.handle("GET /v1/me", s.me)
	s.handle("GET /v1/directory/users/{email}", s.directoryUser)
	s.handle("GET /v1/directory/search", s.directorySearch)
	s.handle("PUT /v1/me/presence", s.publish)
	s.handleCompat("POST /presence/subscriptions", s.compatSubscribe)
	s.handleCompat("GET /presence/subscriptions/{key}", s.compatFetch)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { Readyz(w, r, s.d.Ready) })
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, r, s.d.Logger, NewProblem(http.StatusNotFound, CodeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
}

// handle registers an authenticated, rate-limited, size-limited route.
func (s *Server) handle(pattern string, h authed) { s.register(pattern, h, false) }

// handleCompat is handle for the compatibility API, whose apps may send
// their token in X-Good-GD-AuthToken instead of Authorization.
func (s *Server) handleCompat(pattern string, h authed) { s.register(pattern, h, true) }

func (s *Server) register(pattern string, h authed, compat bool) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		p, err := s.authenticate(r, compat)
		if err == nil {
			err = s.limit(p)
		}
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			WriteProblem(w, r, s.d.Logger, err)
		}
	})
}

func (s *Server) authenticate(r *http.Request, compat bool) (auth.Principal, error) {
	token, ok := auth.BearerToken(r)
	if !ok && compat {
		token = r.Header.Get("X-Good-GD-AuthToken")
		ok = token != ""
	}
	if !ok {
		return auth.Principal{}, auth.ErrUnauthorized
	}
	return s.d.Auth.Client(r.Context(), token)
}

func (s *Server) limit(p auth.Principal) error {
	if s.d.Limiter == nil {
		return nil
	}
	if ok, retry := s.d.Limiter.Allow(p.TokenID); !ok {
		pr := NewProblem(http.StatusTooManyRequests, CodeRateLimited, "too many requests; retry in %v", retry.Round(time.Millisecond))
		pr.retryAfter = retry
		return pr
	}
	return nil
}

// Readyz answers 200 when ready() is nil, else 503 with the reason.
func Readyz(w http.ResponseWriter, r *http.Request, ready func(context.Context) error) {
	if ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
			return
		}
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// Recover turns a panic in h into a 500 problem instead of a dropped
// connection, logging the panic.
func Recover(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", v)
				WriteProblem(w, r, log, errors.New("panic"))
			}
		}()
		h.ServeHTTP(w, r)
	})
}
