package loadgen

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is log-linear, like an HDR histogram with two significant
// binary digits more than a decimal one: values below 2*subBuckets
// microseconds have a bucket each; above that every power of two is split
// into subBuckets equal buckets, so a bucket's width is at most 1/32 of
// its lower bound (about 3% relative error). Values are clamped to
// maxTrackable (about 12.7 days).
const (
	subBits      = 5
	subBuckets   = 1 << subBits
	maxShift     = 40 - subBits - 1
	numBuckets   = (maxShift + 2) * subBuckets
	maxTrackable = 1<<40 - 1 // microseconds
)

// Histogram records durations with microsecond resolution in a fixed set
// of log-linear buckets: constant memory (about 9 KiB) whatever the number
// of samples. Record is safe for concurrent use and lock-free; readers see
// a consistent enough view for progress reports and an exact one once
// recording has stopped.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64 // microseconds
	max    atomic.Uint64 // microseconds
}

// Record adds one sample. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	if us > maxTrackable {
		us = maxTrackable
	}
	h.counts[bucketOf(us)].Add(1)
	h.total.Add(1)
	h.sum.Add(us)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			break
		}
	}
}

// Count returns the number of samples recorded.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max returns the largest sample recorded (exact, to the microsecond).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

// Mean returns the mean of the samples, or 0 with none.
func (h *Histogram) Mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load()/n) * time.Microsecond
}

// Quantile returns the value at quantile q (0 < q <= 1): the upper bound
// of the bucket holding the ceil(q*count)-th smallest sample, capped at
// the exact maximum. It returns 0 when the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q * float64(n))
	if float64(rank) < q*float64(n) {
		rank++
	}
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, width := bucketRange(i)
			return time.Duration(min(lo+width-1, h.max.Load())) * time.Microsecond
		}
	}
	return h.Max()
}

// Merge adds o's samples to h. o must not be recorded into concurrently.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.total.Add(o.total.Load())
	h.sum.Add(o.sum.Load())
	for {
		m, om := h.max.Load(), o.max.Load()
		if om <= m || h.max.CompareAndSwap(m, om) {
			break
		}
	}
}

// bucketOf returns the bucket index of v microseconds.
func bucketOf(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1 // v>>shift is in [subBuckets, 2*subBuckets)
	return (shift+1)*subBuckets + int(v>>shift) - subBuckets
}

// bucketRange returns the lowest value of bucket i and its width.
func bucketRange(i int) (lo, width uint64) {
	if i < 2*subBuckets {
		return uint64(i), 1
	}
	shift := i/subBuckets - 1
	return uint64(i%subBuckets+subBuckets) << shift, 1 << shift
}
