package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/directory"
	"github.com/presenced/presenced/internal/email"
)

// Limits of the directory endpoints.
const (
	// maxSearchText bounds the search text, in bytes.
	maxSearchText = 256
	// defaultSearchLimit and maxSearchLimit bound ?limit=.
	defaultSearchLimit = 20
	maxSearchLimit     = 100
)

// directoryProblem maps the directory's errors to answers.
func directoryProblem(err error) error {
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return NewProblem(http.StatusNotFound, CodeNotFound, "no directory entry has this email")
	case errors.Is(err, directory.ErrInvalid):
		return Invalid("%s", err.Error())
	case errors.Is(err, directory.ErrUnavailable):
		return NewProblem(http.StatusServiceUnavailable, CodeUnavailable, "the directory is unavailable; try again later")
	}
	return err
}

// directoryUser answers GET /v1/directory/users/{email} with a contact
// card.
func (s *Server) directoryUser(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if s.d.Directory == nil {
		return NewProblem(http.StatusNotImplemented, CodeNotImplemented, "no directory is configured")
	}
	addr, err := email.Normalize(r.PathValue("email"))
	if err != nil {
		return Invalid("invalid email: %v", err)
	}
	e, err := s.d.Directory.Lookup(r.Context(), addr)
	if err != nil {
		return directoryProblem(err)
	}
	WriteJSON(w, http.StatusOK, e.Card)
	return nil
}

// directorySearch answers GET /v1/directory/search?q=TEXT&limit=N.
func (s *Server) directorySearch(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if s.d.Directory == nil {
		return NewProblem(http.StatusNotImplemented, CodeNotImplemented, "no directory is configured")
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	switch {
	case q == "":
		return Invalid("q is required")
	case len(q) > maxSearchText:
		return Invalid("q is longer than %d bytes", maxSearchText)
	}
	limit := defaultSearchLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxSearchLimit {
			return Invalid("limit must be an integer between 1 and %d", maxSearchLimit)
		}
		limit = n
	}
	cards, err := s.d.Directory.Search(r.Context(), q, limit)
	if err != nil {
		return directoryProblem(err)
	}
	if cards == nil {
		cards = []directory.Card{}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"users": cards})
	return nil
}
