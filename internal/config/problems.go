package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Key is the dotted key path, e.g. "backend.max_subscriptions_per_endpoint";
	// "config" for the config file itself, or the variable's name for an
	// unknown PRESENCED_* environment variable.
	Key string
	// Message says what is wrong, for an administrator. It never contains
	// a secret's value.
	Message string
}

// String returns "key: message".
func (p Problem) String() string { return p.Key + ": " + p.Message }

// Problems lists everything wrong with a configuration. Load returns it as
// a *Problems error; Validate returns it directly (nil when valid).
type Problems []Problem

// Error returns one line per problem, "key: message", in order.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// As lets errors.As find a Load error with a Problems target as well as a
// *Problems one.
func (ps *Problems) As(target any) bool {
	if t, ok := target.(*Problems); ok {
		*t = *ps
		return true
	}
	return false
}

// add appends a problem with a formatted message.
func (ps *Problems) add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// sorted returns ps sorted by key (then message) without exact duplicates;
// nil when empty.
func (ps Problems) sorted() Problems {
	if len(ps) == 0 {
		return nil
	}
	out := slices.Clone(ps)
	slices.SortStableFunc(out, func(a, b Problem) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.Message, b.Message))
	})
	return slices.Compact(out)
}
