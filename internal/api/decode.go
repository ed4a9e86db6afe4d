package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/presenced/presenced/internal/email"
)

// DecodeJSON reads exactly one JSON value from r's body into v. Unknown
// fields are refused when strict. The body size is already bounded by
// the server's MaxBytesReader.
func DecodeJSON(r *http.Request, v any, strict bool) error {
	// The body must be JSON whatever Content-Type says (curl's -d sends
	// application/x-www-form-urlencoded); it is parsed strictly below.
	dec := json.NewDecoder(r.Body)
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return err
		}
		return Invalid("request body must hold exactly one JSON value")
	}
	return nil
}

func jsonProblem(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var maxBytes *http.MaxBytesError
	var p *Problem
	switch {
	case errors.As(err, &maxBytes), errors.As(err, &p):
		return err
	case errors.Is(err, io.EOF):
		return Invalid("request body is empty")
	case errors.As(err, &syntax):
		return Invalid("malformed JSON at byte %d", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Invalid("malformed JSON: unexpected end of body")
	case errors.As(err, &typ):
		return Invalid("field %q must be %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return Invalid("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return Invalid("malformed JSON: %v", err)
}

// contacts validates and normalises a list of emails, refusing more than
// max of them.
func contacts(field string, in []string, max int) ([]string, error) {
	if len(in) > max {
		return nil, NewProblem(http.StatusBadRequest, CodeTooManyContacts, "%s holds %d contacts; the maximum is %d", field, len(in), max)
	}
	out := make([]string, 0, len(in))
	var bad []string
	for _, s := range in {
		e, err := email.Normalize(s)
		if err != nil {
			if len(bad) < 5 {
				bad = append(bad, fmt.Sprintf("%q", truncate(s, 80)))
			}
			continue
		}
		out = append(out, e)
	}
	if len(bad) > 0 {
		return nil, Invalid("%s: invalid email(s): %s", field, strings.Join(bad, ", "))
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
