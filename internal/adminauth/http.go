package adminauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// Cookie and request names.
const (
	CookieName = "presenced_admin"
	CookiePath = "/"
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "csrf" // form field, for plain HTML forms
)

type sessionCtxKey struct{}

// FromContext returns the session Middleware stored in ctx.
func FromContext(ctx context.Context) (Session, bool) {
	s, ok := ctx.Value(sessionCtxKey{}).(Session)
	return s, ok
}

// Login authenticates name and password (see Authenticate), rate-limited
// by the client address from Config.ClientIP. On success it ends any
// session the request already carried (against session fixation), starts
// a new one and sets its cookie; the caller shows the returned session's
// CSRF token to the page. Cross-origin browser requests are refused with
// ErrCSRF, against login CSRF. The caller writes the response; WriteError
// turns the error into one.
func (m *Manager) Login(w http.ResponseWriter, r *http.Request, name, password string) (Session, error) {
	if err := m.origin.Check(r); err != nil {
		return Session{}, fmt.Errorf("login: %w: %v", ErrCSRF, err)
	}
	ip := m.cfg.ClientIP(r)
	acct, err := m.Authenticate(r.Context(), name, password, ip)
	if err != nil {
		if errors.Is(err, ErrInvalidCredentials) || errors.Is(err, ErrLocked) {
			m.log.Info("admin login refused", "client", ip, "err", err)
		}
		return Session{}, fmt.Errorf("login: %w", err)
	}
	if c, err := r.Cookie(CookieName); err == nil {
		m.sessions.Delete(c.Value)
	}
	id, sess := m.sessions.Create(acct.Name)
	http.SetCookie(w, m.cookie(r, id, int(m.cfg.Sessions.MaxLifetime/time.Second)))
	m.log.Info("admin logged in", "account", acct.Name, "client", ip)
	return sess, nil
}

// Logout ends the request's session, if it has a live one, and clears the
// cookie. Ending a live session is a change, so it needs the CSRF token
// like any other; without it Logout returns ErrCSRF and ends nothing.
func (m *Manager) Logout(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil
	}
	if sess, ok := m.sessions.Lookup(c.Value); ok {
		if err := m.checkCSRF(r, sess); err != nil {
			return fmt.Errorf("logout: %w", err)
		}
		m.sessions.Delete(c.Value)
		m.log.Info("admin logged out", "account", sess.Account)
	}
	http.SetCookie(w, m.cookie(r, "", -1))
	return nil
}

// Middleware passes on only requests with a live session, which
// FromContext then returns. Requests with any method but GET, HEAD and
// OPTIONS must also carry the session's CSRF token in the X-CSRF-Token
// header or the csrf form field, and must not come from another origin.
// Refusals are problem+json: 401 without a session (clearing a stale
// cookie), 403 without the token.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := m.Session(w, r)
		if err != nil {
			m.WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionCtxKey{}, sess)))
	})
}

// Session returns r's live session, checking the CSRF token of a
// state-changing request as Middleware does: ErrUnauthenticated without
// one (clearing a stale cookie on w), ErrCSRF without the token.
func (m *Manager) Session(w http.ResponseWriter, r *http.Request) (Session, error) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return Session{}, ErrUnauthenticated
	}
	sess, ok := m.sessions.Lookup(c.Value)
	if !ok {
		http.SetCookie(w, m.cookie(r, "", -1))
		return Session{}, ErrUnauthenticated
	}
	if err := m.checkCSRF(r, sess); err != nil {
		return Session{}, err
	}
	return sess, nil
}

// checkCSRF returns ErrCSRF when r changes state without sess's token or
// from another origin. The form is read only when the header is absent,
// and only after the session is known, so anonymous clients never make
// the server parse a body.
func (m *Manager) checkCSRF(r *http.Request, sess Session) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if err := m.origin.Check(r); err != nil {
		return fmt.Errorf("%w: %v", ErrCSRF, err)
	}
	token := r.Header.Get(CSRFHeader)
	if token == "" && isForm(r) {
		token = r.PostFormValue(CSRFField)
	}
	if !CheckCSRF(sess, token) {
		return ErrCSRF
	}
	return nil
}

func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
}

// cookie returns the session cookie with value id; maxAge < 0 deletes it.
func (m *Manager) cookie(r *http.Request, id string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     CookieName,
		Value:    id,
		Path:     CookiePath,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil || m.cfg.SecureCookie,
		SameSite: http.SameSiteStrictMode,
	}
}

// problem is an RFC 9457 problem detail in the shape of internal/api's.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
}

// WriteError writes err as application/problem+json in the shape the
// client API uses: 401 unauthorized for bad credentials or no session,
// 429 rate_limited with Retry-After while locked, 403 forbidden for CSRF
// and setup-token refusals, 400 invalid_request for refused names and
// passwords, and 500 internal (logged, text not shown) for anything else.
func (m *Manager) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, title, detail := http.StatusInternalServerError, "internal", "Internal error", "internal error"
	var locked *LockedError
	switch {
	case errors.As(err, &locked):
		secs := int((locked.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		status, code, title, detail = http.StatusTooManyRequests, "rate_limited", "Rate limited",
			fmt.Sprintf("too many failed logins; retry after %d seconds", secs)
	case errors.Is(err, ErrInvalidCredentials):
		status, code, title, detail = http.StatusUnauthorized, "unauthorized", "Unauthorized", ErrInvalidCredentials.Error()
	case errors.Is(err, ErrDirectoryUnavailable):
		w.Header().Set("Retry-After", "5")
		status, code, title, detail = http.StatusServiceUnavailable, "backend_unavailable", "Directory unavailable", ErrDirectoryUnavailable.Error()
		m.log.Warn("directory login could not be checked", "err", err)
	case errors.Is(err, ErrUnauthenticated):
		status, code, title, detail = http.StatusUnauthorized, "unauthorized", "Unauthorized", ErrUnauthenticated.Error()
	case errors.Is(err, ErrCSRF), errors.Is(err, ErrSetupToken), errors.Is(err, ErrSetupDone):
		status, code, title, detail = http.StatusForbidden, "forbidden", "Forbidden", refusal(err)
	case errors.Is(err, ErrPasswordTooShort), errors.Is(err, ErrPasswordTooLong),
		errors.Is(err, ErrInvalidName), errors.Is(err, ErrAccountExists):
		status, code, title, detail = http.StatusBadRequest, "invalid_request", "Invalid request", refusal(err)
	default:
		m.log.Error("admin auth request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{Type: "urn:presenced:problem:" + code, Title: title, Status: status, Detail: detail, Code: code})
}

// refusal returns the sentinel's text for err, not the wrapped chain,
// which may hold a name or internal context.
func refusal(err error) string {
	for _, s := range []error{ErrCSRF, ErrSetupToken, ErrSetupDone, ErrPasswordTooShort, ErrPasswordTooLong, ErrInvalidName, ErrAccountExists} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return err.Error()
}

// CheckOrigin returns an error wrapping ErrCSRF when r is a cross-origin
// browser request, for state-changing routes without a session (such as
// the first account's setup).
func (m *Manager) CheckOrigin(r *http.Request) error {
	if err := m.origin.Check(r); err != nil {
		return fmt.Errorf("%w: %v", ErrCSRF, err)
	}
	return nil
}
