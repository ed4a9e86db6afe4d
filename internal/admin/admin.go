// Package admin is the admin API of presenced (API.md §5) on the admin
// listener: settings, the allowlist, endpoint usage, a user's
// subscriptions, live counts, Prometheus metrics and health.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/presenced/presenced/internal/adminauth"
	"github.com/presenced/presenced/internal/allowlist"
	"github.com/presenced/presenced/internal/api"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/email"
	"github.com/presenced/presenced/internal/endpoint"
	"github.com/presenced/presenced/internal/presence"
	"github.com/presenced/presenced/internal/settings"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/wire"
)

// Authenticator checks admin bearer tokens.
type Authenticator interface {
	Admin(ctx context.Context, bearer string) (auth.Principal, error)
}

// Deps are what the admin API reads and changes.
type Deps struct {
	Auth     Authenticator
	Settings *settings.Manager
	Tokens   store.TokenStore // for minting client tokens
	Clock    clock.Clock
	Hub      *presence.Hub
	Pool     *endpoint.Pool
	// Extra adds counts of other components (stream clients, backend
	// state) to /v1/admin/stats.
	Extra    func() map[string]any
	Ready    func(ctx context.Context) error
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	MaxBody  int64
	// Dashboard, when set, serves the dashboard at /admin/ and lets its
	// sessions use the admin API.
	Dashboard *adminauth.Manager
	// Backend is the dashboard's backend page.
	Backend BackendView
	// Audit records every admin change; nil keeps none.
	Audit store.AuditStore
}

// Server is the admin API handler.
type Server struct {
	d   Deps
	mux *http.ServeMux
}

// New returns the admin API.
func New(d Deps) *Server {
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.MaxBody <= 0 {
		d.MaxBody = 1 << 20
	}
	s := &Server{d: d, mux: http.NewServeMux()}
	s.handle("GET /v1/admin/settings", s.getSettings)
	s.handle("PUT /v1/admin/settings", s.putSettings)
	s.handle("POST /v1/admin/allowlist/domains", s.addDomains)
	s.handle("DELETE /v1/admin/allowlist/domains/{domain}", s.removeDomain)
	s.handle("GET /v1/admin/endpoints", s.endpoints)
	s.handle("GET /v1/admin/subscriptions", s.subscriptions)
	s.handle("GET /v1/admin/stats", s.stats)
	s.handle("POST /v1/admin/tokens", s.createToken)
	s.handle("GET /admin/api/audit", s.auditLog)
	// Profiles, for performance work; admin-token protected like the API.
	s.handle("GET /debug/pprof/", pprofHandler(pprof.Index))
	s.handle("GET /debug/pprof/cmdline", pprofHandler(pprof.Cmdline))
	s.handle("GET /debug/pprof/profile", pprofHandler(pprof.Profile))
	s.handle("GET /debug/pprof/symbol", pprofHandler(pprof.Symbol))
	s.handle("GET /debug/pprof/trace", pprofHandler(pprof.Trace))
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { api.Readyz(w, r, d.Ready) })
	if d.Dashboard != nil {
		s.mountDashboard(d.Dashboard)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		api.WriteProblem(w, r, d.Logger, api.NewProblem(http.StatusNotFound, api.CodeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	api.Recover(s.d.Logger, s.mux).ServeHTTP(w, r)
}

type handler func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

func (s *Server) handle(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.d.MaxBody)
		var p auth.Principal
		token, ok := auth.BearerToken(r)
		err := auth.ErrUnauthorized
		switch {
		case ok:
			p, err = s.d.Auth.Admin(r.Context(), token)
		case s.d.Dashboard != nil:
			// A dashboard session (cookie, and the CSRF token on changes).
			sess, serr := s.d.Dashboard.Session(w, r)
			if serr != nil {
				s.d.Dashboard.WriteError(w, r, serr)
				return
			}
			p, err = auth.Principal{User: sess.Account, Admin: true, TokenID: "session:" + sess.Account}, nil
		}
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			var fe *settings.FieldError
			if errors.As(err, &fe) {
				err = api.InvalidFields(api.FieldError{Field: fe.Field, Detail: fe.Detail})
			}
			api.WriteProblem(w, r, s.d.Logger, err)
		}
	})
}

type settingsJSON struct {
	SubscriptionTTL int           `json:"subscription_ttl"`
	Allowlist       allowlistJSON `json:"allowlist"`
}

type allowlistJSON struct {
	Enabled bool     `json:"enabled"`
	Domains []string `json:"domains"`
}

func toJSON(st store.Settings) settingsJSON {
	return settingsJSON{
		SubscriptionTTL: int(st.SubscriptionTTL / time.Second),
		Allowlist:       allowlistJSON{Enabled: st.AllowlistEnabled, Domains: st.AllowlistDomains},
	}
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	api.WriteJSON(w, http.StatusOK, toJSON(s.d.Settings.Get()))
	return nil
}

// domainsInput accepts a JSON list of strings or one string with
// separators.
type domainsInput []string

func (d *domainsInput) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*d = domainsInput{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return api.Invalid("domains must be a string or a list of strings")
	}
	*d = many
	return nil
}

func (s *Server) putSettings(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req struct {
		SubscriptionTTL *int `json:"subscription_ttl"`
		Allowlist       *struct {
			Enabled *bool         `json:"enabled"`
			Domains *domainsInput `json:"domains"`
		} `json:"allowlist"`
	}
	if err := api.DecodeJSON(r, &req, true); err != nil {
		return err
	}
	var c settings.Change
	if req.SubscriptionTTL != nil {
		// Bound the seconds before converting them: a huge value would
		// overflow time.Duration and could wrap into the allowed range.
		minTTL, maxTTL := int(presence.MinTTL/time.Second), int(presence.MaxTTL/time.Second)
		if *req.SubscriptionTTL < minTTL || *req.SubscriptionTTL > maxTTL {
			return api.InvalidFields(api.FieldError{Field: "subscription_ttl", Detail: fmt.Sprintf("must be %d..%d seconds", minTTL, maxTTL)})
		}
		d := time.Duration(*req.SubscriptionTTL) * time.Second
		c.SubscriptionTTL = &d
	}
	if req.Allowlist != nil {
		c.AllowlistEnabled = req.Allowlist.Enabled
		if req.Allowlist.Domains != nil {
			ds := []string(*req.Allowlist.Domains)
			c.AllowlistDomains = &ds
		}
	}
	if dryRun(r) {
		next, err := s.d.Settings.Preview(c)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]settingsJSON{"before": toJSON(s.d.Settings.Get()), "after": toJSON(next)})
		return nil
	}
	return s.update(w, r, p, c)
}

// dryRun reports whether r asks for a dry run (?dry_run=1 or true): the
// change is checked by the server's rules and its result returned, but
// nothing is stored or applied.
func dryRun(r *http.Request) bool {
	v := r.URL.Query().Get("dry_run")
	return v == "1" || v == "true"
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, p auth.Principal, c settings.Change) error {
	before, after, err := s.d.Settings.Update(r.Context(), c)
	if err != nil {
		return err
	}
	s.d.Logger.Info("settings changed", "by", p.TokenID,
		"before", toJSON(before), "after", toJSON(after))
	s.audit(r, p, "settings.update", "settings", toJSON(before), toJSON(after))
	api.WriteJSON(w, http.StatusOK, toJSON(after))
	return nil
}

func (s *Server) addDomains(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req struct {
		Domains domainsInput `json:"domains"`
	}
	if err := api.DecodeJSON(r, &req, true); err != nil {
		return err
	}
	if ds, err := allowlist.Normalize(req.Domains); err == nil && len(ds) == 0 {
		return api.Invalid("domains is required")
	}
	return s.update(w, r, p, settings.Change{AddDomains: req.Domains})
}

func (s *Server) removeDomain(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.update(w, r, p, settings.Change{RemoveDomains: []string{r.PathValue("domain")}})
}

func (s *Server) endpoints(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	api.WriteJSON(w, http.StatusOK, map[string][]endpoint.Usage{"endpoints": s.d.Pool.Usage()})
	return nil
}

func (s *Server) subscriptions(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	user, err := email.Normalize(r.URL.Query().Get("user"))
	if err != nil {
		return api.Invalid("user must be an email: %v", err)
	}
	type sub struct {
		ID        string          `json:"id"`
		Key       string          `json:"key"`
		TTL       int             `json:"ttl"`
		ExpiresAt time.Time       `json:"expires_at"`
		Sequence  uint64          `json:"sequence"`
		Push      bool            `json:"push"`
		Presence  []wire.Presence `json:"presence"`
	}
	views := s.d.Hub.Inspect(user)
	out := make([]sub, len(views))
	for i, v := range views {
		out[i] = sub{ID: v.ID, Key: v.Key, TTL: int(v.TTL / time.Second), ExpiresAt: v.ExpiresAt.UTC(),
			Sequence: v.Sequence, Push: v.PushToken != "", Presence: make([]wire.Presence, len(v.Presence))}
		for j, cp := range v.Presence {
			out[i].Presence[j] = wire.FromStatus(cp.Contact, cp.Presence)
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"user": user, "subscriptions": out})
	return nil
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	st := s.d.Hub.Stats()
	out := map[string]any{
		"client_subscriptions":  st.ClientSubscriptions,
		"watched_contacts":      st.WatchedContacts,
		"backend_subscriptions": s.d.Pool.Used(),
		"streams":               st.Listeners,
		"deliveries":            st.Deliveries,
	}
	if s.d.Extra != nil {
		for k, v := range s.d.Extra() {
			out[k] = v
		}
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// createToken mints a client API token for a user, as `presenced token
// create` does, for provisioning scripts and the load tool. The secret is
// in the answer only; the store keeps its hash.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req struct {
		User string `json:"user"`
	}
	if err := api.DecodeJSON(r, &req, true); err != nil {
		return err
	}
	user, err := email.Normalize(req.User)
	if err != nil {
		return api.Invalid("user must be an email: %v", err)
	}
	secret, hash, err := auth.Issue(r.Context(), s.d.Tokens, store.ClientToken, user, s.d.Clock.Now())
	if err != nil {
		return fmt.Errorf("mint token: %w", err)
	}
	s.d.Logger.Info("client token created", "by", p.TokenID, "token", auth.TokenID(hash))
	s.audit(r, p, "token.create", user, nil, map[string]string{"user": user, "token_id": auth.TokenID(hash)})
	api.WriteJSON(w, http.StatusCreated, map[string]string{"user": user, "token": secret})
	return nil
}

// pprofHandler adapts a net/http/pprof handler to an authenticated admin
// route.
func pprofHandler(h http.HandlerFunc) handler {
	return func(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
		h(w, r)
		return nil
	}
}
