package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/presenced/presenced/internal/admin/ui"
	"github.com/presenced/presenced/internal/adminauth"
	"github.com/presenced/presenced/internal/api"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/probe"
)

// maxLoginBody bounds a login or setup request.
const maxLoginBody = 4 << 10

// mountDashboard serves the dashboard's pages at /admin/ and its login,
// first-account setup and logout at /admin/api/; the admin API then also
// accepts the session cookie (with the CSRF token on changes) in place of
// an admin token.
func (s *Server) mountDashboard(m *adminauth.Manager) {
	s.mux.Handle("GET /admin/", ui.Handler())
	s.mux.HandleFunc("POST /admin/api/login", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
		var req struct {
			Name     string `json:"name"`
			Password string `json:"password"`
		}
		if err := api.DecodeJSON(r, &req, true); err != nil {
			api.WriteProblem(w, r, s.d.Logger, err)
			return
		}
		sess, err := m.Login(w, r, req.Name, req.Password)
		if err != nil {
			m.WriteError(w, r, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"csrf": sess.CSRF, "account": sess.Account})
	})
	// A new tab has no CSRF token yet: it asks for its session's, so that
	// a live session does not need a new login. Other origins cannot read
	// the answer (no CORS), and the cookie is SameSite=Strict.
	s.mux.HandleFunc("GET /admin/api/session", func(w http.ResponseWriter, r *http.Request) {
		sess, err := m.Session(w, r)
		if err != nil {
			m.WriteError(w, r, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"csrf": sess.CSRF, "account": sess.Account})
	})
	s.mux.HandleFunc("GET /admin/api/setup", func(w http.ResponseWriter, r *http.Request) {
		needed, err := m.SetupNeeded(r.Context())
		if err != nil {
			m.WriteError(w, r, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]bool{"needed": needed})
	})
	s.mux.HandleFunc("POST /admin/api/setup", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
		var req struct {
			Token    string `json:"token"`
			Name     string `json:"name"`
			Password string `json:"password"`
		}
		if err := api.DecodeJSON(r, &req, true); err != nil {
			api.WriteProblem(w, r, s.d.Logger, err)
			return
		}
		if err := m.CheckOrigin(r); err != nil {
			m.WriteError(w, r, err)
			return
		}
		acct, err := m.CreateFirst(r.Context(), req.Token, req.Name, req.Password)
		if err != nil {
			m.WriteError(w, r, err)
			return
		}
		s.audit(r, auth.Principal{User: acct.Name}, "account.create", acct.Name, nil, map[string]string{"name": acct.Name, "with": "setup token"})
		api.WriteJSON(w, http.StatusCreated, map[string]string{"account": acct.Name})
	})
	s.handle("GET /admin/api/backend", s.backendForm)
	s.handle("POST /admin/api/backend/test", s.backendTest)
	s.handle("PUT /admin/api/backend", s.backendSave)
	s.handle("DELETE /admin/api/backend", s.backendReset)
	s.mux.HandleFunc("POST /admin/api/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Logout(w, r); err != nil {
			m.WriteError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// BackendView is the dashboard's backend page. The composition root
// implements it over the configuration; the handlers here only carry it.
type BackendView interface {
	// Form returns the page: the backend kind and its editable fields
	// with their current values (never a secret's) and where each comes
	// from.
	Form(ctx context.Context) (BackendForm, error)
	// Test checks values (field key to text; absent keys keep their
	// current value) as Save would, without saving, and runs the real
	// checks (internal/probe) against the result. Invalid values are an
	// *api.Problem naming the fields at fault.
	Test(ctx context.Context, values map[string]string) ([]probe.Step, error)
	// Save checks values like Test, saves them and has them applied: the
	// backend and the directory restart with them while client
	// subscriptions are kept. It returns before the restart is done;
	// BackendForm.Generation says when it is.
	Save(ctx context.Context, actor string, values map[string]string) (SaveResult, error)
	// Reset forgets every value saved in the dashboard and has the
	// configuration file's (and the environment's) applied, as Save
	// does.
	Reset(ctx context.Context, actor string) (SaveResult, error)
}

// BackendForm is the backend page's content.
type BackendForm struct {
	Kind     string        `json:"kind"`
	Sections []FormSection `json:"sections"`
	// Generation counts the configurations run since the process
	// started, from 1; Pending is the generation a Save asked for (equal
	// to Generation when none is under way).
	Generation int64 `json:"generation"`
	Pending    int64 `json:"pending"`
	// Saved says who last saved values in the dashboard, and when.
	SavedBy string     `json:"saved_by,omitempty"`
	SavedAt *time.Time `json:"saved_at,omitempty"`
	// Error is why the last saved values could not be applied (the
	// previous ones then keep running), or "".
	Error string `json:"error,omitempty"`
}

// FormSection is a group of fields, e.g. "SIP server".
type FormSection struct {
	Title  string      `json:"title"`
	Fields []FormField `json:"fields"`
}

// FormField is one field of the backend page.
type FormField struct {
	// Key names the field in Test and Save: a config key path, or for
	// the items of backend.xmpp.clusters "backend.xmpp.clusters.N.KEY"
	// (N from 0).
	Key   string `json:"key"`
	Label string `json:"label"`
	// Type is text, number, choice, list (one item per line), bool or
	// secret (never sent; an empty input keeps the current one).
	Type    string   `json:"type"`
	Value   string   `json:"value"`
	Set     bool     `json:"set,omitempty"` // a secret has a value
	Choices []string `json:"choices,omitempty"`
	Help    string   `json:"help,omitempty"`
	// Origin is where the value comes from: file, dashboard, an
	// environment variable's name, flag; "" for the default.
	Origin string `json:"origin,omitempty"`
	// ReadOnly fields are set by the environment or a flag, which
	// override the dashboard; the page says where to change them.
	ReadOnly bool `json:"read_only,omitempty"`
}

// SaveResult is what a Save changed, for the audit log, and the
// generation that will run it.
type SaveResult struct {
	Generation int64
	// Before and After are the changed fields' values (a secret's as
	// "(changed)"), by key.
	Before, After map[string]string
}

// errNoBackendPage answers the backend page's routes of a gateway built
// without one.
var errNoBackendPage = api.NewProblem(http.StatusNotImplemented, api.CodeNotImplemented, "this gateway has no backend page")

func (s *Server) backendForm(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if s.d.Backend == nil {
		return errNoBackendPage
	}
	f, err := s.d.Backend.Form(r.Context())
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, f)
	return nil
}

type stepJSON struct {
	Name       string `json:"name"`
	OK         bool   `json:"ok"`
	Detail     string `json:"detail"`
	DurationMS int64  `json:"duration_ms"`
}

// backendValues decodes {"values": {key: text}} for the backend page;
// an empty body means no change. Without a page it is errNoBackendPage.
func (s *Server) backendValues(r *http.Request) (map[string]string, error) {
	if s.d.Backend == nil {
		return nil, errNoBackendPage
	}
	var req struct {
		Values map[string]string `json:"values"`
	}
	if r.ContentLength == 0 {
		return map[string]string{}, nil
	}
	if err := api.DecodeJSON(r, &req, true); err != nil {
		return nil, err
	}
	if len(req.Values) > 200 {
		return nil, api.Invalid("at most 200 values per request")
	}
	if req.Values == nil {
		req.Values = map[string]string{}
	}
	return req.Values, nil
}

func (s *Server) backendTest(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	values, err := s.backendValues(r)
	if err != nil {
		return err
	}
	result, err := s.d.Backend.Test(r.Context(), values)
	if err != nil {
		return err
	}
	steps := []stepJSON{}
	for _, st := range result {
		steps = append(steps, stepJSON{Name: st.Name, OK: st.OK, Detail: st.Detail, DurationMS: st.Duration.Milliseconds()})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"steps": steps})
	return nil
}

func (s *Server) backendSave(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	values, err := s.backendValues(r)
	if err != nil {
		return err
	}
	if len(values) == 0 {
		return api.Invalid("values is required: the fields to change")
	}
	res, err := s.d.Backend.Save(r.Context(), actor(p), values)
	var prob *api.Problem
	if err != nil && !errors.As(err, &prob) {
		s.d.Logger.Error("backend settings not saved", "by", actor(p), "err", err)
	}
	if err != nil {
		return err
	}
	s.d.Logger.Info("backend settings saved", "by", actor(p), "changed", len(res.After), "generation", res.Generation)
	if len(res.After) > 0 {
		s.audit(r, p, "backend.update", "backend", res.Before, res.After)
	}
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"generation": res.Generation, "changed": len(res.After)})
	return nil
}

func (s *Server) backendReset(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if s.d.Backend == nil {
		return errNoBackendPage
	}
	res, err := s.d.Backend.Reset(r.Context(), actor(p))
	if err != nil {
		return err
	}
	s.d.Logger.Info("backend settings saved in the dashboard forgotten", "by", actor(p), "generation", res.Generation)
	if len(res.Before) > 0 {
		s.audit(r, p, "backend.reset", "backend", res.Before, res.After)
	}
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"generation": res.Generation, "changed": len(res.Before)})
	return nil
}
