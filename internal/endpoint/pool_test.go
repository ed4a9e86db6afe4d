package endpoint

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestFillFirstAndReuse(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := New([]string{"ep0", "ep1", "ep2"}, 2, reg)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for range 6 {
		ep, ok := p.Acquire()
		if !ok {
			t.Fatal("pool full too early")
		}
		got = append(got, ep.Index)
	}
	if diff := cmp.Diff([]int{0, 0, 1, 1, 2, 2}, got); diff != "" {
		t.Fatalf("placement order (-want +got):\n%s", diff)
	}
	if _, ok := p.Acquire(); ok {
		t.Fatal("Acquire succeeded on a full pool")
	}
	// Free one slot on ep1 and one on ep0: the next placement takes ep0
	// (first fit), then ep1.
	eps := p.Endpoints()
	p.Release(eps[1])
	p.Release(eps[0])
	want := []Usage{{"ep0", 2, 1}, {"ep1", 2, 1}, {"ep2", 2, 2}}
	if diff := cmp.Diff(want, p.Usage()); diff != "" {
		t.Fatalf("usage (-want +got):\n%s", diff)
	}
	a, _ := p.Acquire()
	b, _ := p.Acquire()
	if a.Index != 0 || b.Index != 1 {
		t.Fatalf("reuse order = %d, %d; want 0, 1", a.Index, b.Index)
	}
	if got := testutil.ToFloat64(p.usedGauge.WithLabelValues("ep1")); got != 2 {
		t.Fatalf("gauge ep1 = %v, want 2", got)
	}
	if p.Used() != 6 {
		t.Fatalf("Used = %d, want 6", p.Used())
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	if _, err := New(nil, 10, nil); err == nil {
		t.Error("no endpoints accepted")
	}
	if _, err := New([]string{"a"}, 0, nil); err == nil {
		t.Error("max 0 accepted")
	}
}

func TestReleaseWithoutSlotPanics(t *testing.T) {
	p, _ := New([]string{"a"}, 1, nil)
	defer func() {
		if recover() == nil {
			t.Error("release of an empty endpoint did not panic")
		}
	}()
	p.Release(p.Endpoints()[0])
}

func BenchmarkAcquireRelease(b *testing.B) {
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = string(rune('a' + i))
	}
	p, _ := New(ids, 1000, nil)
	for range 5000 {
		p.Acquire()
	}
	b.ReportAllocs()
	for b.Loop() {
		ep, _ := p.Acquire()
		p.Release(ep)
	}
}
