package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// set decodes raw (a YAML value, or a string from the environment or a
// flag) into l's field of c. On error c is unchanged.
func (l leaf) set(c *Config, raw any) error {
	f := l.field(c)
	switch l.kind {
	case kindString:
		s, ok := scalarString(raw)
		if !ok {
			return typeError(l.kind, raw)
		}
		f.SetString(s)
	case kindBool:
		b, ok := asBool(raw)
		if !ok {
			return typeError(l.kind, raw)
		}
		f.SetBool(b)
	case kindInt:
		n, ok := asInt(raw)
		if !ok || f.OverflowInt(n) {
			return typeError(l.kind, raw)
		}
		f.SetInt(n)
	case kindFloat:
		x, ok := asFloat(raw)
		if !ok {
			return typeError(l.kind, raw)
		}
		f.SetFloat(x)
	case kindDuration:
		d, ok := asDuration(raw)
		if !ok {
			return typeError(l.kind, raw)
		}
		f.SetInt(int64(d))
	case kindList:
		list, ok := asList(raw)
		if !ok {
			if items, isList := raw.([]any); isList {
				return fmt.Errorf("list items must be strings, got %s", describe(firstNonScalar(items)))
			}
			return typeError(l.kind, raw)
		}
		f.Set(reflect.ValueOf(list))
	}
	return nil
}

// typeError says that raw is not a valid value of kind k, e.g.
// `invalid duration "abc"` or "expected an integer, got a list".
func typeError(k kind, raw any) error {
	if _, scalar := scalarString(raw); scalar {
		return fmt.Errorf("invalid %s %s", k, describe(raw))
	}
	return fmt.Errorf("expected %s, got %s", withArticle(k), describe(raw))
}

// describe names raw for a message. It shows scalars (shortened) but never
// the contents of lists or mappings.
func describe(raw any) string {
	switch v := raw.(type) {
	case nil:
		return "null"
	case string:
		const max = 64
		if len(v) > max {
			return strconv.Quote(v[:max]) + "..."
		}
		return strconv.Quote(v)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case time.Time:
		return "a timestamp"
	}
	if s, ok := scalarString(raw); ok {
		return s
	}
	return fmt.Sprintf("a value of type %T", raw)
}

// scalarString returns a YAML scalar as text; false for anything else.
func scalarString(raw any) (string, bool) {
	switch v := raw.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	}
	return "", false
}

func asBool(raw any) (bool, bool) {
	switch v := raw.(type) {
	case bool:
		return v, true
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		return b, err == nil
	}
	return false, false
}

// asInt accepts integers, integral floats (YAML 1e3) and decimal strings.
func asInt(raw any) (int64, bool) {
	switch v := raw.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case uint64:
		return int64(v), v <= math.MaxInt64
	case float64:
		if v != math.Trunc(v) || v < math.MinInt64 || v >= math.MaxInt64 {
			return 0, false
		}
		return int64(v), true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func asFloat(raw any) (float64, bool) {
	switch v := raw.(type) {
	case int, int64, uint64:
		n, ok := asInt(v)
		return float64(n), ok
	case float64:
		return v, true
	case string:
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return x, err == nil
	}
	return 0, false
}

// asDuration accepts Go duration syntax ("180s", "3m") or a whole number
// of seconds (YAML 180, or "180").
func asDuration(raw any) (time.Duration, bool) {
	if s, ok := raw.(string); ok {
		s = strings.TrimSpace(s)
		if d, err := time.ParseDuration(s); err == nil {
			return d, true
		}
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return 0, false
		}
	}
	if _, ok := raw.(bool); ok {
		return 0, false
	}
	n, ok := asInt(raw)
	if !ok || n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// asList accepts a YAML list of scalars, or one string holding several
// items separated as splitList does. Null and empty lists give nil.
func asList(raw any) ([]string, bool) {
	switch v := raw.(type) {
	case []any:
		var out []string
		for _, item := range v {
			s, ok := scalarString(item)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	case []string:
		if len(v) == 0 {
			return nil, true
		}
		return append([]string(nil), v...), true
	}
	if s, ok := scalarString(raw); ok {
		return splitList(s), true
	}
	return nil, false
}

func firstNonScalar(items []any) any {
	for _, item := range items {
		if _, ok := scalarString(item); !ok {
			return item
		}
	}
	return nil
}

// splitList splits s on commas, semicolons and white space (spaces, tabs,
// new lines), dropping empty items.
func splitList(s string) []string {
	items := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ';' || unicode.IsSpace(r)
	})
	if len(items) == 0 {
		return nil
	}
	return items
}
