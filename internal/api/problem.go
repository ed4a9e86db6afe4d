package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/presence"
)

// Problem is an RFC 9457 problem detail with presenced's stable code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
	// Errors, on invalid_request answers, name each field at fault, so
	// that a form can show each message next to its field.
	Errors []FieldError `json:"errors,omitempty"`

	retryAfter time.Duration
}

// FieldError is one field's problem: Field is its name in the request
// (a JSON field such as "subscription_ttl", or a config key path such as
// "backend.sip.server").
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// InvalidFields is a 400 invalid_request problem naming the fields at
// fault; its detail joins their messages.
func InvalidFields(errs ...FieldError) *Problem {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Field + ": " + e.Detail
	}
	p := Invalid("%s", strings.Join(parts, "; "))
	p.Errors = errs
	return p
}

// Error makes a Problem usable as an error returned by handlers.
func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

// Stable problem codes (API.md §3). not_implemented is presenced's
// addition for capabilities a backend or build does not have.
const (
	CodeInvalidRequest  = "invalid_request"
	CodeUnauthorized    = "unauthorized"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeTooManyContacts = "too_many_contacts"
	CodePayloadTooLarge = "payload_too_large"
	CodeRateLimited     = "rate_limited"
	CodeServerBusy      = "server_busy"
	CodeFailed          = "failed"
	CodeInternal        = "internal"
	CodeNotImplemented  = "not_implemented"
	CodeUnavailable     = "unavailable"
)

var titles = map[string]string{
	CodeInvalidRequest:  "Invalid request",
	CodeUnauthorized:    "Unauthorized",
	CodeForbidden:       "Forbidden",
	CodeNotFound:        "Not found",
	CodeTooManyContacts: "Too many contacts",
	CodePayloadTooLarge: "Payload too large",
	CodeRateLimited:     "Rate limited",
	CodeServerBusy:      "Server busy",
	CodeFailed:          "Failed",
	CodeInternal:        "Internal error",
	CodeNotImplemented:  "Not implemented",
	CodeUnavailable:     "Service unavailable",
}

// NewProblem returns a problem with the given status, code and detail.
func NewProblem(status int, code, format string, args ...any) *Problem {
	return &Problem{
		Type:   "urn:presenced:problem:" + code,
		Title:  titles[code],
		Status: status,
		Code:   code,
		Detail: fmt.Sprintf(format, args...),
	}
}

// Invalid is a 400 invalid_request problem.
func Invalid(format string, args ...any) *Problem {
	return NewProblem(http.StatusBadRequest, CodeInvalidRequest, format, args...)
}

// ProblemFor maps any error to the problem apps see. It is the one place
// where errors of the core become HTTP answers.
func ProblemFor(err error) *Problem {
	var p *Problem
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &maxBytes):
		return NewProblem(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body larger than %d bytes", maxBytes.Limit)
	case errors.Is(err, auth.ErrForbidden):
		return NewProblem(http.StatusForbidden, CodeForbidden, "this token may not use this API")
	case errors.Is(err, auth.ErrUnauthorized):
		return NewProblem(http.StatusUnauthorized, CodeUnauthorized, "missing or invalid bearer token")
	case errors.Is(err, presence.ErrNotFound):
		return NewProblem(http.StatusNotFound, CodeNotFound, "no such subscription")
	case errors.Is(err, presence.ErrTooManyContacts):
		return NewProblem(http.StatusBadRequest, CodeTooManyContacts, "%s", err.Error())
	case errors.Is(err, presence.ErrTooManySubscriptions):
		return NewProblem(http.StatusForbidden, CodeForbidden, "subscription limit reached: delete or reuse a subscription key")
	case errors.Is(err, presence.ErrInvalidTTL):
		return Invalid("ttl must be between %d and %d seconds", int(presence.MinTTL/time.Second), int(presence.MaxTTL/time.Second))
	case errors.Is(err, backend.ErrUnsupported):
		return NewProblem(http.StatusNotImplemented, CodeNotImplemented, "%s", err.Error())
	}
	return NewProblem(http.StatusInternalServerError, CodeInternal, "internal error")
}

// WriteProblem writes err as application/problem+json. Internal errors
// are logged (their text is not shown to the client).
func WriteProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := ProblemFor(err)
	if p.Status >= 500 && p.Code == CodeInternal {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
