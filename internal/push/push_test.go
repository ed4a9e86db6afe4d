package push_test

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/push"
	"github.com/presenced/presenced/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ignoreDelivery leaves delivery ids, which are random, out of comparisons.
var ignoreDelivery = cmpopts.IgnoreFields(received{}, "Delivery")

func TestDeliversSignedExactBody(t *testing.T) {
	h := newHarness(t, options{})
	h.start()
	h.p.Enqueue(push.Hint{PushToken: tokenPrefix + "x", User: "bob@example.com", Subscription: "s1", Key: `k"<1>`, Sequence: 42})
	h.waitFor("delivery", func() bool { return h.results()["sent"] == 1 && h.queue() == 0 })

	want := []received{{
		Subscription: "s1",
		Sequence:     42,
		Body:         `{"push_token":"ptok-x","user":"bob@example.com","subscription":"s1","key":"k\"\u003c1\u003e","sequence":42}`,
		SignatureOK:  true,
		ContentType:  "application/json",
		UserAgent:    "presenced",
	}}
	got := h.relay.received()
	if diff := cmp.Diff(want, got, ignoreDelivery); diff != "" {
		t.Errorf("relay saw (-want +got):\n%s", diff)
	}
	if got[0].Delivery == "" {
		t.Errorf("no %s header", push.DeliveryHeader)
	}
	if n := h.deliveries(); n != 1 {
		t.Errorf("delivery histogram count = %d, want 1", n)
	}
}

func TestRetriesUntilDelivered(t *testing.T) {
	h := newHarness(t, options{
		cfg:     push.Config{MaxAttempts: 3},
		respond: script(reply{status: 500}, reply{status: 500}, reply{status: 200}),
	})
	h.start()
	h.p.Enqueue(hint("s1", 7))
	for n := 1; n <= 2; n++ {
		h.waitFor("a failed attempt and its retry timer", func() bool {
			return h.relay.count() == n && h.clk.Pending() == 1
		})
		// The retry falls due just before the backoff ceiling, which
		// doubles with every failure. (The margin covers the worker
		// reading the clock while a previous Advance moves it.)
		h.clk.Advance(retryCeiling(n) - time.Millisecond)
		if h.clk.Pending() != 1 || h.relay.count() != n {
			t.Fatalf("retry %d ran before its backoff elapsed", n)
		}
		h.clk.Advance(time.Millisecond)
	}
	h.waitFor("delivery", func() bool { return h.total() == 3 && h.queue() == 0 })

	if diff := cmp.Diff(map[string]float64{"retried": 2, "sent": 1}, h.results()); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	got := h.relay.received()
	if len(got) != 3 {
		t.Fatalf("relay saw %d requests, want 3", len(got))
	}
	for i, r := range got[1:] {
		if diff := cmp.Diff(got[0], r); diff != "" {
			t.Errorf("retry %d differs from the first attempt (-first +retry):\n%s", i+1, diff)
		}
	}
	if n := h.clk.Pending(); n != 0 {
		t.Errorf("%d timers pending after delivery", n)
	}
}

func TestResultByStatus(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{200, "sent"},
		{202, "sent"},
		{204, "sent"},
		{302, "dropped_permanent"}, // no Location: the client hands it back
		{400, "dropped_permanent"},
		{401, "dropped_permanent"},
		{404, "dropped_permanent"},
		{410, "dropped_permanent"},
		{413, "dropped_permanent"},
		{408, "dropped_attempts"},
		{429, "dropped_attempts"},
		{500, "dropped_attempts"},
		{502, "dropped_attempts"},
		{503, "dropped_attempts"},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			h := newHarness(t, options{
				cfg:     push.Config{MaxAttempts: 1},
				respond: script(reply{status: tt.status}),
			})
			h.start()
			h.p.Enqueue(hint("s1", 1))
			h.waitFor("a result", func() bool { return h.total() == 1 && h.queue() == 0 })
			if diff := cmp.Diff(map[string]float64{tt.want: 1}, h.results()); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if n := h.relay.count(); n != 1 {
				t.Errorf("relay saw %d requests, want 1", n)
			}
			if n := h.clk.Pending(); n != 0 {
				t.Errorf("%d retry timers pending, want 0", n)
			}
		})
	}
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	h := newHarness(t, options{
		cfg:     push.Config{MaxAttempts: 5},
		respond: script(reply{status: http.StatusBadRequest}),
	})
	h.start()
	h.p.Enqueue(hint("s1", 1))
	h.waitFor("the drop", func() bool { return h.total() == 1 && h.queue() == 0 })
	h.clk.Advance(time.Hour)
	h.stop()
	if diff := cmp.Diff(map[string]float64{"dropped_permanent": 1}, h.results()); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if n := h.relay.count(); n != 1 {
		t.Errorf("relay saw %d requests, want 1", n)
	}
	if got := h.hints.snapshot(); len(got) != 0 {
		t.Errorf("a dropped hint was saved: %v", got)
	}
}

func TestMaxAttemptsExhausted(t *testing.T) {
	h := newHarness(t, options{
		cfg:     push.Config{MaxAttempts: 3},
		respond: script(reply{status: http.StatusInternalServerError}),
	})
	h.start()
	h.p.Enqueue(hint("s1", 1))
	for n := 1; n <= 2; n++ {
		h.waitFor("a retry timer", func() bool { return h.relay.count() == n && h.clk.Pending() == 1 })
		h.clk.Advance(retryCeiling(n))
	}
	h.waitFor("the drop", func() bool { return h.results()["dropped_attempts"] == 1 && h.queue() == 0 })
	if diff := cmp.Diff(map[string]float64{"retried": 2, "dropped_attempts": 1}, h.results()); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if n := h.relay.count(); n != 3 {
		t.Errorf("relay saw %d requests, want 3", n)
	}
	if n := h.clk.Pending(); n != 0 {
		t.Errorf("%d timers pending after the drop", n)
	}
}

func TestNetworkErrorIsRetried(t *testing.T) {
	// A loopback port with nothing listening: connections are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)

	h := newHarness(t, options{cfg: push.Config{URL: url, MaxAttempts: 2}, client: &http.Client{Transport: tr}})
	h.start()
	h.p.Enqueue(hint("s1", 1))
	h.waitFor("a retry timer", func() bool { return h.clk.Pending() == 1 })
	h.clk.Advance(retryCeiling(1))
	h.waitFor("the drop", func() bool { return h.results()["dropped_attempts"] == 1 })
	if diff := cmp.Diff(map[string]float64{"retried": 1, "dropped_attempts": 1}, h.results()); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		wantDelay  time.Duration
	}{
		{"429 seconds", 429, "5", 5 * time.Second},
		{"503 seconds", 503, "20", 20 * time.Second},
		{"capped", 503, "3600", time.Minute},
		{"http date", 429, start.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{"zero", 503, "0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, options{
				respond: script(reply{status: tt.status, retryAfter: tt.retryAfter}, reply{status: 200}),
			})
			h.start()
			h.p.Enqueue(hint("s1", 1))
			h.waitFor("a retry timer", func() bool { return h.clk.Pending() == 1 })
			if tt.wantDelay > 0 {
				h.clk.Advance(tt.wantDelay - time.Millisecond)
				if n := h.clk.Pending(); n != 1 {
					t.Fatalf("retry ran before Retry-After elapsed")
				}
				h.clk.Advance(time.Millisecond)
			} else {
				h.clk.Advance(0)
			}
			if n := h.clk.Pending(); n != 0 {
				t.Fatalf("retry did not run once Retry-After elapsed")
			}
			h.waitFor("delivery", func() bool { return h.results()["sent"] == 1 })
			if n := h.relay.count(); n != 2 {
				t.Errorf("relay saw %d requests, want 2", n)
			}
		})
	}
}

func TestCoalescing(t *testing.T) {
	type delivered struct {
		Subscription string
		Sequence     uint64
	}
	tests := []struct {
		name    string
		respond func(n int, sub string) reply
		// run enqueues hints while the relay misbehaves.
		run      func(h *harness)
		want     []delivered
		wantSent float64
	}{{
		name:    "while sending",
		respond: script(reply{status: 200, block: true}, reply{status: 200}),
		run: func(h *harness) {
			h.p.Enqueue(hint("s1", 1))
			h.waitFor("the first request", func() bool { return h.relay.count() == 1 })
			for seq := uint64(2); seq <= 5; seq++ {
				h.p.Enqueue(hint("s1", seq))
			}
			h.relay.release()
		},
		want:     []delivered{{"s1", 1}, {"s1", 5}},
		wantSent: 2,
	}, {
		name:    "while queued",
		respond: script(reply{status: 200, block: true}, reply{status: 200}),
		run: func(h *harness) {
			h.p.Enqueue(hint("other", 1)) // keeps the only worker busy
			h.waitFor("the first request", func() bool { return h.relay.count() == 1 })
			for seq := uint64(1); seq <= 5; seq++ {
				h.p.Enqueue(hint("s1", seq))
			}
			h.relay.release()
		},
		want:     []delivered{{"other", 1}, {"s1", 5}},
		wantSent: 2,
	}, {
		name:    "while awaiting a retry",
		respond: script(reply{status: 500}, reply{status: 200}),
		run: func(h *harness) {
			h.p.Enqueue(hint("s1", 1))
			h.waitFor("a retry timer", func() bool { return h.clk.Pending() == 1 })
			for seq := uint64(2); seq <= 5; seq++ {
				h.p.Enqueue(hint("s1", seq))
			}
			h.clk.Advance(retryCeiling(1))
		},
		want:     []delivered{{"s1", 1}, {"s1", 5}}, // the retry sends the newest
		wantSent: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, options{cfg: push.Config{Workers: 1}, respond: tt.respond})
			h.start()
			tt.run(h)
			h.waitFor("the last delivery", func() bool {
				return h.results()["sent"] == tt.wantSent && h.queue() == 0
			})
			var got []delivered
			ids := map[string]bool{}
			for _, r := range h.relay.received() {
				got = append(got, delivered{r.Subscription, r.Sequence})
				ids[r.Delivery] = true
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("relay saw (-want +got):\n%s", diff)
			}
			if len(ids) != len(got) {
				t.Errorf("%d distinct delivery ids for %d distinct bodies", len(ids), len(got))
			}
		})
	}
}

func TestQueueFull(t *testing.T) {
	h := newHarness(t, options{
		cfg:     push.Config{Workers: 1, QueueSize: 2},
		respond: script(reply{status: 200, block: true}, reply{status: 200}),
	})
	h.start()
	h.p.Enqueue(hint("a", 1))
	h.waitFor("the first request", func() bool { return h.relay.count() == 1 })
	h.p.Enqueue(hint("b", 1))
	h.p.Enqueue(hint("c", 1)) // a third subscription: no room
	h.p.Enqueue(hint("b", 2)) // coalesced with the queued one: accepted
	if diff := cmp.Diff(map[string]float64{"dropped_queue_full": 1}, h.results()); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if q := h.queue(); q != 2 {
		t.Errorf("queue gauge = %v, want 2", q)
	}
	h.relay.release()
	h.waitFor("both deliveries", func() bool { return h.results()["sent"] == 2 && h.queue() == 0 })
	var got []string
	for _, r := range h.relay.received() {
		got = append(got, r.Body)
	}
	want := []string{
		`{"push_token":"ptok-a","user":"bob@example.com","subscription":"a","key":"key-a","sequence":1}`,
		`{"push_token":"ptok-b","user":"bob@example.com","subscription":"b","key":"key-b","sequence":2}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("relay saw (-want +got):\n%s", diff)
	}
}

// body returns the exact JSON body of hint(sub, seq).
func body(sub string, seq uint64) []byte {
	h := hint(sub, seq)
	return []byte(`{"push_token":"` + h.PushToken + `","user":"` + h.User + `","subscription":"` + sub +
		`","key":"` + h.Key + `","sequence":` + strconv.FormatUint(seq, 10) + `}`)
}

func TestShutdownSavesPendingThenRestartDelivers(t *testing.T) {
	hints := newMemHints()
	first := newHarness(t, options{
		cfg:   push.Config{Workers: 1},
		hints: hints,
		respond: func(_ int, sub string) reply {
			if sub == "c" {
				return reply{status: 200, block: true} // in flight at shutdown
			}
			return reply{status: 503}
		},
	})
	first.start()
	first.p.Enqueue(hint("a", 1))
	first.p.Enqueue(hint("b", 1))
	first.waitFor("two retry timers", func() bool { return first.clk.Pending() == 2 })
	first.p.Enqueue(hint("c", 1))
	first.waitFor("the blocked request", func() bool { return first.relay.count() == 3 })
	first.p.Enqueue(hint("d", 1)) // queued behind c
	first.p.Enqueue(hint("a", 2)) // replaces the one awaiting a retry
	first.stop()

	want := []store.Hint{
		{Subscription: "a", Body: body("a", 2), CreatedAt: start},
		{Subscription: "b", Body: body("b", 1), CreatedAt: start},
		{Subscription: "c", Body: body("c", 1), CreatedAt: start},
		{Subscription: "d", Body: body("d", 1), CreatedAt: start},
	}
	if diff := cmp.Diff(want, hints.snapshot()); diff != "" {
		t.Fatalf("saved hints (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]float64{"retried": 2}, first.results()); diff != "" {
		t.Errorf("results before shutdown (-want +got):\n%s", diff)
	}
	if q, n := first.queue(), first.clk.Pending(); q != 0 || n != 0 {
		t.Errorf("after Run: queue gauge %v, %d timers pending; want 0, 0", q, n)
	}
	first.p.Enqueue(hint("e", 1))
	if got := first.results()["dropped_shutdown"]; got != 1 {
		t.Errorf("dropped_shutdown after Run = %v, want 1", got)
	}

	second := newHarness(t, options{hints: hints})
	second.p.Enqueue(hint("b", 9)) // newer than the saved one, which yields
	second.start()
	second.waitFor("every saved hint", func() bool { return second.results()["sent"] == 4 && second.queue() == 0 })
	got := map[string]received{}
	for _, r := range second.relay.received() {
		got[r.Subscription] = r
	}
	seen := func(sub string, seq uint64) received {
		return received{
			Subscription: sub, Sequence: seq, Body: string(body(sub, seq)),
			SignatureOK: true, ContentType: "application/json", UserAgent: "presenced",
		}
	}
	wantSeen := map[string]received{"a": seen("a", 2), "b": seen("b", 9), "c": seen("c", 1), "d": seen("d", 1)}
	if diff := cmp.Diff(wantSeen, got, ignoreDelivery); diff != "" {
		t.Errorf("relay saw after restart (-want +got):\n%s", diff)
	}
	if n := second.relay.count(); n != 4 {
		t.Errorf("relay saw %d requests after restart, want 4", n)
	}
	second.stop()
	if got := hints.snapshot(); len(got) != 0 {
		t.Errorf("store still holds %v after delivery", got)
	}
}

func TestShutdownWithoutSaving(t *testing.T) {
	tests := []struct {
		name    string
		noStore bool
		saveErr error
	}{
		{name: "no store", noStore: true},
		{name: "save fails", saveErr: errors.New("disk full")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hints := newMemHints()
			hints.saveErr = tt.saveErr
			h := newHarness(t, options{noStore: tt.noStore, hints: hints, respond: script(reply{status: 500})})
			h.start()
			h.p.Enqueue(hint("s1", 1))
			h.waitFor("a retry timer", func() bool { return h.clk.Pending() == 1 })
			h.stop()
			if diff := cmp.Diff(map[string]float64{"retried": 1, "dropped_shutdown": 1}, h.results()); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNilDependencies(t *testing.T) {
	r := newRelay(t, script(reply{status: 200}))
	p := push.New(push.Config{URL: r.srv.URL, Secret: testSecret}, r.srv.Client(), nil, nil, nil, nil)
	h := &harness{t: t, relay: r}
	h.p = p
	h.start()
	p.Enqueue(hint("s1", 1))
	deadline := time.Now().Add(waitLimit)
	for r.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no delivery with default dependencies")
		}
		time.Sleep(time.Millisecond)
	}
	h.stop()
}
