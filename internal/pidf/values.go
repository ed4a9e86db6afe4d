package pidf

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds the value rules of docs/pidf.md: truncation, case,
// priorities and timestamps.

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// truncateBytes is truncate for a byte slice.
func truncateBytes(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return b[:n]
}

// equalLower reports whether strings.ToLower(string(b)) == lower, without
// allocating for ASCII input.
func equalLower(b []byte, lower string) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return strings.ToLower(string(b)) == lower
		}
	}
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// parsePriority parses a contact priority (a qvalue, RFC 3863 §4.1.5);
// anything outside 0..1 gives 0.
func parsePriority(s string) float64 {
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f >= 0 && f <= 1) {
		return 0
	}
	return f
}

// timeLayouts are the forms of RFC 3339 date-times (and near misses) that
// parseTime accepts, after normalising 't', 'z' and a space separator.
// Fractional seconds are accepted by time.Parse after the seconds field
// whatever the layout.
var timeLayouts = []string{
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05Z07",
	"2006-01-02T15:04:05", // no zone: read as UTC
	"2006-01-02T15:04Z07:00",
}

// parseTime parses a timestamp leniently; it returns zero when no layout
// fits. The result is in UTC.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if len(s) < len("2006-01-02T15:04") || len(s) > 64 {
		return time.Time{}
	}
	if s[10] == 't' || s[10] == ' ' || s[len(s)-1] == 'z' {
		b := []byte(s)
		if b[10] == 't' || b[10] == ' ' {
			b[10] = 'T'
		}
		if b[len(b)-1] == 'z' {
			b[len(b)-1] = 'Z'
		}
		s = string(b)
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
