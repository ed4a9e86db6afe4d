package admin

import (
	"net/http"

	"github.com/presenced/presenced/internal/admin/ui"
	"github.com/presenced/presenced/internal/adminauth"
	"github.com/presenced/presenced/internal/api"
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
	s.mux.HandleFunc("POST /admin/api/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Logout(w, r); err != nil {
			m.WriteError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
