package loadgen

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHistogramQuantiles(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		samples func(h *Histogram)
		want    map[float64]time.Duration // quantile -> value
		tol     float64                   // relative tolerance
		max     time.Duration
		count   uint64
	}{
		{
			name:    "empty",
			samples: func(*Histogram) {},
			want:    map[float64]time.Duration{0.5: 0, 0.99: 0},
		},
		{
			name:    "one sample",
			samples: func(h *Histogram) { h.Record(7 * ms) },
			want:    map[float64]time.Duration{0.01: 7 * ms, 0.5: 7 * ms, 1: 7 * ms},
			max:     7 * ms, count: 1,
		},
		{
			name: "uniform 1..10000 ms",
			samples: func(h *Histogram) {
				for i := 10000; i >= 1; i-- { // order must not matter
					h.Record(time.Duration(i) * ms)
				}
			},
			want: map[float64]time.Duration{0.5: 5000 * ms, 0.95: 9500 * ms, 0.99: 9900 * ms, 0.999: 9990 * ms, 1: 10000 * ms},
			tol:  1.0 / subBuckets, max: 10000 * ms, count: 10000,
		},
		{
			name: "small exact values",
			samples: func(h *Histogram) {
				for i := range 50 {
					h.Record(time.Duration(i) * time.Microsecond)
				}
			},
			want: map[float64]time.Duration{0.05: 2 * time.Microsecond, 0.5: 24 * time.Microsecond, 1: 49 * time.Microsecond},
			max:  49 * time.Microsecond, count: 50,
		},
		{
			name: "bimodal: 99 fast, 1 slow",
			samples: func(h *Histogram) {
				for range 99 {
					h.Record(2 * ms)
				}
				h.Record(3 * time.Second)
			},
			want: map[float64]time.Duration{0.5: 2 * ms, 0.99: 2 * ms, 0.995: 3 * time.Second, 1: 3 * time.Second},
			tol:  1.0 / subBuckets, max: 3 * time.Second, count: 100,
		},
		{
			name:    "negative and huge are clamped",
			samples: func(h *Histogram) { h.Record(-time.Second); h.Record(100 * 24 * time.Hour) },
			want:    map[float64]time.Duration{0.5: 0, 1: maxTrackable * time.Microsecond},
			max:     maxTrackable * time.Microsecond, count: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			tt.samples(&h)
			for q, want := range tt.want {
				got := h.Quantile(q)
				if d := float64(got - want); d < 0 || d > tt.tol*float64(want) {
					t.Errorf("Quantile(%v) = %v, want %v (+%.1f%%)", q, got, want, 100*tt.tol)
				}
			}
			if h.Max() != tt.max || h.Count() != tt.count {
				t.Errorf("Max, Count = %v, %d; want %v, %d", h.Max(), h.Count(), tt.max, tt.count)
			}
		})
	}
}

// TestHistogramBuckets checks that the buckets tile the value range: each
// starts where the previous one ended and bucketOf maps both ends of a
// bucket to it.
func TestHistogramBuckets(t *testing.T) {
	next := uint64(0)
	for i := range numBuckets {
		lo, width := bucketRange(i)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, next)
		}
		if width > 1 && float64(width)/float64(lo) > 1.0/subBuckets {
			t.Fatalf("bucket %d [%d, +%d) wider than 1/%d of its start", i, lo, width, subBuckets)
		}
		if bucketOf(lo) != i || bucketOf(lo+width-1) != i {
			t.Fatalf("bucket %d [%d, +%d): bucketOf = %d, %d", i, lo, width, bucketOf(lo), bucketOf(lo+width-1))
		}
		next = lo + width
	}
	if next != maxTrackable+1 {
		t.Errorf("buckets end at %d, want %d", next, uint64(maxTrackable+1))
	}
}

func TestHistogramConcurrentAndMerge(t *testing.T) {
	var a, b Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				a.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	b.Record(time.Hour)
	b.Merge(&a)
	got := struct {
		Count     uint64
		Max, Mean time.Duration
	}{b.Count(), b.Max(), b.Mean()}
	// Mean of 0..7999 µs is 3999.5 µs; with one hour added over 8001 samples.
	want := struct {
		Count     uint64
		Max, Mean time.Duration
	}{8001, time.Hour, (time.Hour + 7999*8000/2*time.Microsecond) / 8001 / time.Microsecond * time.Microsecond}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged (-want +got):\n%s", diff)
	}
	if q := a.Quantile(0.5); q < 3900*time.Microsecond || q > 4100*time.Microsecond {
		t.Errorf("p50 of 0..7999µs = %v", q)
	}
}
