package config

import (
	"net/url"
	"slices"
	"strings"
	"time"
)

// RedactedValue replaces a secret's value in Redacted.
const RedactedValue = "REDACTED"

// Redacted returns every key path with its value, safe to log or show on
// the dashboard: a non-empty secret (any key whose last segment contains
// "secret" or "password", such as push.secret) reads RedactedValue, an
// empty one "" so that "not set" stays visible, and a URL's user
// information reads RedactedValue. Durations are strings ("3m0s"), lists are []string (never nil),
// other values keep their Go type.
func (c Config) Redacted() map[string]any {
	out := map[string]any{}
	for _, l := range keys().leaves {
		v := l.field(&c).Interface()
		switch v := v.(type) {
		case string:
			out[l.path] = redactString(l.path, v)
		case time.Duration:
			out[l.path] = v.String()
		case []string:
			out[l.path] = append([]string{}, v...)
		default:
			out[l.path] = v
		}
	}
	return out
}

func redactString(path, v string) string {
	name := strings.ToLower(lastSegment(path))
	if v != "" && slices.ContainsFunc([]string{"secret", "password"}, func(s string) bool { return strings.Contains(name, s) }) {
		return RedactedValue
	}
	if strings.Contains(v, "@") {
		if u, err := url.Parse(v); err == nil && u.User != nil {
			u.User = url.User(RedactedValue) // user names can be tokens too
			return u.String()
		}
	}
	return v
}
