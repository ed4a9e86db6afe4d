package admin

import (
	"context"
	"net/http"

	"github.com/presenced/presenced/internal/admin/ui"
	"github.com/presenced/presenced/internal/adminauth"
	"github.com/presenced/presenced/internal/api"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/probe"
)

// maxLoginBody bounds a login request.
const maxLoginBody = 4 << 10

// mountDashboard serves the dashboard's pages at /admin/ and its login and
// logout at /admin/api/; the admin API then also accepts the session
// cookie (with the CSRF token on changes) in place of an admin token.
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
		api.WriteJSON(w, http.StatusOK, map[string]string{"csrf": sess.CSRF})
	})
	s.handle("GET /admin/api/backend", s.backendInfo)
	s.handle("POST /admin/api/backend/test", s.backendTest)
	s.mux.HandleFunc("POST /admin/api/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Logout(w, r); err != nil {
			m.WriteError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// BackendView is what the dashboard's backend page shows and tests.
type BackendView struct {
	// Kind is the backend kind (native, sip, xmpp).
	Kind string
	// Fields are the backend's and the directory's settings, secrets
	// redacted, in order.
	Fields []Field
	// Test runs the real checks (probe) and returns their steps.
	Test func(ctx context.Context) []probe.Step
}

// Field is one setting shown on the backend page.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type stepJSON struct {
	Name       string `json:"name"`
	OK         bool   `json:"ok"`
	Detail     string `json:"detail"`
	DurationMS int64  `json:"duration_ms"`
}

func (s *Server) backendInfo(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	fields := s.d.Backend.Fields
	if fields == nil {
		fields = []Field{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"kind": s.d.Backend.Kind, "fields": fields})
	return nil
}

func (s *Server) backendTest(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	steps := []stepJSON{}
	if s.d.Backend.Test != nil {
		for _, st := range s.d.Backend.Test(r.Context()) {
			steps = append(steps, stepJSON{Name: st.Name, OK: st.OK, Detail: st.Detail, DurationMS: st.Duration.Milliseconds()})
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"steps": steps})
	return nil
}
