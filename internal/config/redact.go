package config

import (
	"net/url"
	"reflect"
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
			if l.kind == kindTables {
				out[l.path] = redactTables(l.path, l.field(&c))
				continue
			}
			out[l.path] = v
		}
	}
	return out
}

// IsSecret reports whether the key path names a secret: its last segment
// contains "secret" or "password" (push.secret, *.bind_password, ...).
func IsSecret(path string) bool {
	name := strings.ToLower(lastSegment(path))
	return slices.ContainsFunc([]string{"secret", "password"}, func(s string) bool { return strings.Contains(name, s) })
}

func redactString(path, v string) string {
	if v != "" && IsSecret(path) {
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

// redactTables renders a table list as a list of mappings by koanf key,
// with secrets redacted as Redacted does for plain keys.
func redactTables(path string, list reflect.Value) []map[string]any {
	return tableItems(list, func(key, v string) string { return redactString(path+"."+key, v) })
}

// Tables returns the items of the list-of-mappings key path (such as
// backend.xmpp.clusters) as Load accepts them back: mappings by koanf key,
// durations as strings, secrets included. Nil for any other path.
func (c Config) Tables(path string) []map[string]any {
	l, ok := keys().byPath[path]
	if !ok || l.kind != kindTables {
		return nil
	}
	return tableItems(l.field(&c), func(_, v string) string { return v })
}

// tableItems renders a table list as a list of mappings by koanf key,
// passing every string through str.
func tableItems(list reflect.Value, str func(key, v string) string) []map[string]any {
	out := make([]map[string]any, 0, list.Len())
	for i := range list.Len() {
		item := list.Index(i)
		m := map[string]any{}
		for j := range item.NumField() {
			key := item.Type().Field(j).Tag.Get("koanf")
			switch v := item.Field(j).Interface().(type) {
			case string:
				m[key] = str(key, v)
			case time.Duration:
				m[key] = v.String()
			case []string:
				m[key] = append([]string{}, v...)
			default:
				m[key] = v
			}
		}
		out = append(out, m)
	}
	return out
}
