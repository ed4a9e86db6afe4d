package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// set decodes raw (a YAML value, or a string from the environment or a
// flag) into l's field of c. On error c is unchanged.
func (l leaf) set(c *Config, raw any) error {
	return setValue(l.field(c), l.kind, raw)
}

// setValue decodes raw into f, a field of kind k; on error f is unchanged.
func setValue(f reflect.Value, k kind, raw any) error {
	switch k {
	case kindString:
		s, ok := scalarString(raw)
		if !ok {
			return typeError(k, raw)
		}
		f.SetString(s)
	case kindBool:
		b, ok := asBool(raw)
		if !ok {
			return typeError(k, raw)
		}
		f.SetBool(b)
	case kindInt:
		n, ok := asInt(raw)
		if !ok || f.OverflowInt(n) {
			return typeError(k, raw)
		}
		f.SetInt(n)
	case kindFloat:
		x, ok := asFloat(raw)
		if !ok {
			return typeError(k, raw)
		}
		f.SetFloat(x)
	case kindDuration:
		d, ok := asDuration(raw)
		if !ok {
			return typeError(k, raw)
		}
		f.SetInt(int64(d))
	case kindList:
		list, ok := asList(raw)
		if !ok {
			if items, isList := raw.([]any); isList {
				return fmt.Errorf("list items must be strings, got %s", describe(firstNonScalar(items)))
			}
			return typeError(k, raw)
		}
		f.Set(reflect.ValueOf(list))
	case kindTables:
		v, err := asTables(f.Type(), raw)
		if err != nil {
			return err
		}
		f.Set(v)
	}
	return nil
}

// asTables decodes a YAML list of mappings into a slice of type t (of
// structs with koanf-tagged scalar and list fields). Every problem is
// reported, each naming the item (from 1) and its key.
func asTables(t reflect.Type, raw any) (reflect.Value, error) {
	if _, isString := raw.(string); isString {
		return reflect.Value{}, errors.New("expected a list of mappings: set it in the config file")
	}
	items, ok := raw.([]any)
	if !ok {
		return reflect.Value{}, fmt.Errorf("expected a list of mappings, got %s", describe(raw))
	}
	elem := t.Elem()
	fields := map[string]int{}
	for i := range elem.NumField() {
		fields[elem.Field(i).Tag.Get("koanf")] = i
	}
	out := reflect.MakeSlice(t, 0, len(items))
	var errs []error
	for n, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("item %d: expected a mapping, got %s", n+1, describe(item)))
			continue
		}
		v := reflect.New(elem).Elem()
		for _, key := range slices.Sorted(maps.Keys(m)) {
			i, known := fields[key]
			if !known {
				errs = append(errs, fmt.Errorf("item %d: unknown key %q%s", n+1, key, didYouMean(key, slices.Sorted(maps.Keys(fields)))))
				continue
			}
			if m[key] == nil {
				continue
			}
			if err := setValue(v.Field(i), kindOf(elem.Field(i).Type), m[key]); err != nil {
				errs = append(errs, fmt.Errorf("item %d: %s: %w", n+1, key, err))
			}
		}
		out = reflect.Append(out, v)
	}
	if len(errs) > 0 {
		return reflect.Value{}, errors.Join(errs...)
	}
	return out, nil
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
