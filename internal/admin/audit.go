package admin

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/presenced/presenced/internal/api"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/store"
)

// actor names who made a change: the dashboard account, or the admin
// token's id.
func actor(p auth.Principal) string {
	if p.User != "" {
		return p.User
	}
	return p.TokenID
}

// audit records an admin change (who, when, what, before and after) in
// the audit log. The change has happened already: a failure to record it
// is logged, not returned.
func (s *Server) audit(r *http.Request, p auth.Principal, action, target string, before, after any) {
	if s.d.Audit == nil {
		return
	}
	e := store.AuditEntry{At: s.d.Clock.Now(), Actor: actor(p), Action: action, Target: target, Before: jsonText(before), After: jsonText(after)}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		e.Remote = host
	}
	if _, err := s.d.Audit.Append(r.Context(), e); err != nil {
		s.d.Logger.Error("audit log append failed", "action", action, "actor", e.Actor, "err", err)
	}
}

func jsonText(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

type auditEntryJSON struct {
	ID     string          `json:"id"`
	At     time.Time       `json:"at"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Target string          `json:"target"`
	Remote string          `json:"remote,omitempty"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

func rawOrNull(s string) json.RawMessage {
	if s == "" || !json.Valid([]byte(s)) {
		return json.RawMessage("null")
	}
	return json.RawMessage(s)
}

// auditLog answers GET /admin/api/audit?limit=N&before=ID, newest first.
func (s *Server) auditLog(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	q := store.AuditQuery{Limit: 50}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxAuditLimit {
			return api.Invalid("limit must be an integer between 1 and %d", store.MaxAuditLimit)
		}
		q.Limit = n
	}
	if v := r.URL.Query().Get("before"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id < 1 {
			return api.Invalid("before must be the id of an entry")
		}
		q.BeforeID = id
	}
	entries := []auditEntryJSON{}
	if s.d.Audit != nil {
		list, err := s.d.Audit.List(r.Context(), q)
		if err != nil {
			return err
		}
		for _, e := range list {
			entries = append(entries, auditEntryJSON{
				ID: strconv.FormatInt(e.ID, 10), At: e.At.UTC(), Actor: e.Actor, Action: e.Action,
				Target: e.Target, Remote: e.Remote, Before: rawOrNull(e.Before), After: rawOrNull(e.After),
			})
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"entries": entries})
	return nil
}
