package push

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoffCeiling(t *testing.T) {
	// jitter returning n exposes the ceiling of the uniform draw.
	ceiling := func(n int64) int64 { return n }
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, 500 * time.Millisecond},
		{1, 500 * time.Millisecond},
		{2, time.Second},
		{3, 2 * time.Second},
		{7, 32 * time.Second},
		{8, time.Minute}, // 64s, capped
		{21, time.Minute},
		{1000, time.Minute},
	}
	for _, tt := range tests {
		if got := backoff(tt.failures, ceiling); got != tt.want {
			t.Errorf("backoff(%d) ceiling = %v, want %v", tt.failures, got, tt.want)
		}
	}
	if got := backoff(5, func(int64) int64 { return 0 }); got != 0 {
		t.Errorf("full jitter floor = %v, want 0", got)
	}
}

func TestClassify(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		status     int
		retryAfter string
		want       outcome
	}{
		{200, "", outcome{verdict: delivered, status: 200}},
		{299, "", outcome{verdict: delivered, status: 299}},
		{304, "", outcome{verdict: permanent, status: 304}},
		{400, "5", outcome{verdict: permanent, status: 400}},
		{408, "5", outcome{verdict: retry, status: 408}}, // Retry-After only on 429 and 503
		{429, "", outcome{verdict: retry, status: 429}},
		{429, "7", outcome{verdict: retry, status: 429, retryAfter: 7 * time.Second, hasRetry: true}},
		{500, "7", outcome{verdict: retry, status: 500}},
		{503, "bogus", outcome{verdict: retry, status: 503}},
		{503, "120", outcome{verdict: retry, status: 503, retryAfter: time.Minute, hasRetry: true}},
	}
	for _, tt := range tests {
		got := classify(tt.status, tt.retryAfter, now)
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(outcome{})); diff != "" {
			t.Errorf("classify(%d, %q) (-want +got):\n%s", tt.status, tt.retryAfter, diff)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	type result struct {
		D  time.Duration
		OK bool
	}
	tests := []struct {
		in   string
		want result
	}{
		{"", result{}},
		{"  ", result{}},
		{"0", result{0, true}},
		{"5", result{5 * time.Second, true}},
		{" 5 ", result{5 * time.Second, true}},
		{"59", result{59 * time.Second, true}},
		{"61", result{time.Minute, true}},
		{"4294967295", result{time.Minute, true}},
		{"4294967296", result{}}, // beyond 32 bits: malformed
		{"-1", result{}},
		{"1.5", result{}},
		{"soon", result{}},
		{now.Add(30 * time.Second).Format(http.TimeFormat), result{30 * time.Second, true}},
		{now.Add(time.Hour).Format(http.TimeFormat), result{time.Minute, true}},
		{now.Add(-time.Hour).Format(http.TimeFormat), result{0, true}},
	}
	for _, tt := range tests {
		d, ok := parseRetryAfter(tt.in, now)
		if diff := cmp.Diff(tt.want, result{d, ok}); diff != "" {
			t.Errorf("parseRetryAfter(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "5", "4294967296", "Fri, 02 Jan 2026 03:04:35 GMT", "-1"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if d < 0 || d > maxBackoff || (!ok && d != 0) {
			t.Fatalf("parseRetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}
