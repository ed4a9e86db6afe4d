package watcher

import (
	"context"
	"errors"
	"fmt"
	randv2 "math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/sip/dialog"
	"github.com/presenced/presenced/internal/sip/locate"
)

// requestTimeout bounds one SUBSCRIBE transaction started by a timer.
const requestTimeout = 32 * time.Second // RFC 3261 Timer F

// subscription is one identity's subscription to one presentity, across
// the dialogs that carry it over time.
type subscription struct {
	w        *Watcher
	key      key
	from, to sip.Uri

	op sync.Mutex // serialises SUBSCRIBE transactions (held across them)

	mu       sync.Mutex // guards the fields below; never held across the network
	d        *dialog.Dialog
	timer    clock.Timer
	failures int
	stopped  bool
	lead     time.Duration // how early the next refresh is sent
	due      time.Time     // when the scheduled refresh is due
	target   locate.Target // the server holding the dialog
	local    string        // local address of the connection the dialog's Contact names

	gone   bool   // guarded by w.mu: removed from the watcher's maps
	callID string // guarded by w.mu: the Call-ID its NOTIFYs are routed by

	// fetched, for a one-shot fetch (Watcher.Fetch), receives the body
	// of its NOTIFY instead of Config.Notify, and nothing is re-subscribed.
	fetched chan []byte
}

// subscribe starts a new dialog with an initial SUBSCRIBE, at the
// presentity's home pool if a Director sent it there before, else at the
// located server (following a redirect); s.op is held.
func (s *subscription) subscribe(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.d != nil {
		s.w.unroute(s.d.CallID)
	}
	s.d = dialog.New(s.from, s.to, newToken(), newToken(), randv2.Uint32N(1<<16))
	d := s.d
	s.mu.Unlock()
	s.w.route(d.CallID, s) // before sending: the NOTIFY may precede the 200

	start, err := s.w.targetFor(ctx, s.key.to)
	if err != nil {
		return fmt.Errorf("watcher: subscribe %s: %w", s.key.to, err)
	}
	x, err := s.exchange(ctx, start, true, s.w.cfg.Expires, s.inDialog(d))
	s.w.settled(s.key.to, start, x, err)
	if err != nil {
		return fmt.Errorf("watcher: subscribe %s: %w", s.key.to, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.d != d || s.stopped {
		return nil // superseded meanwhile
	}
	if !x.res.IsSuccess() {
		return fmt.Errorf("watcher: subscribe %s: %w", s.key.to, statusError("SUBSCRIBE", x.res))
	}
	if err := d.Accepted(x.res); err != nil {
		return fmt.Errorf("watcher: subscribe %s: %w", s.key.to, err)
	}
	s.failures = 0
	s.target, s.local = x.target, x.local
	s.scheduleRefreshLocked(granted(x.res, s.w.cfg.Expires))
	return nil
}

// inDialog returns a builder of d's next SUBSCRIBE, for exchange.
func (s *subscription) inDialog(d *dialog.Dialog) func() *sip.Request {
	return func() *sip.Request {
		s.mu.Lock()
		defer s.mu.Unlock()
		return d.Request(sip.SUBSCRIBE)
	}
}

// refresh sends the in-dialog SUBSCRIBE that extends the subscription;
// a failure starts a new subscription after backoff.
func (s *subscription) refresh() {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	if s.stopped || s.d == nil || !s.d.Established {
		s.mu.Unlock()
		return
	}
	d, t, due := s.d, s.target, s.due
	// A refresh not answered before the subscription expires is as good
	// as lost, so it waits at most the lead it was sent with.
	timeout := min(requestTimeout, max(time.Second, s.lead))
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	x, err := s.exchange(ctx, t, false, s.w.cfg.Expires, s.inDialog(d))
	s.mu.Lock()
	if s.stopped || s.d != d {
		s.mu.Unlock()
		return
	}
	delay := time.Duration(-1)
	switch {
	case err == nil && x.res.IsSuccess():
		s.local = x.local
		s.scheduleRefreshLocked(granted(x.res, s.w.cfg.Expires))
		s.mu.Unlock()
		if !due.IsZero() {
			s.w.cfg.Refreshed(max(0, s.w.cfg.Clock.Now().Sub(due)))
		}
		return
	case err != nil:
		s.w.log.Info("subscription refresh failed", "from", s.key.from, "to", s.key.to, "error", err)
		s.w.forgetHome(s.key.to, t)
	default: // 481, 408 and every other refusal: the dialog is gone
		s.w.log.Info("subscription refresh refused", "from", s.key.from, "to", s.key.to, "status", x.res.StatusCode)
		if se := statusError("SUBSCRIBE", x.res); se.RetryAfter > 0 {
			delay = max(se.RetryAfter, s.w.backoff(s.failures+1))
		}
	}
	if delay >= 0 {
		s.lostLocked(delay, false)
	} else {
		s.lostLocked(0, true)
	}
	s.mu.Unlock()
	s.w.cfg.Lost(s.key.from, s.key.to)
}

// connectionChanged is told the local address of the connection to the
// subscription's server now. When the dialog's Contact names another (its
// connection dropped and a new one was made), NOTIFYs cannot reach the
// watcher: the state is reported lost and the dialog refreshed at once
// with a Contact naming the new connection (a target refresh).
func (s *subscription) connectionChanged(local string) {
	s.mu.Lock()
	if s.stopped || s.d == nil || !s.d.Established || s.local == "" || s.local == local {
		s.mu.Unlock()
		return
	}
	s.w.log.Info("subscription's connection dropped; refreshing", "from", s.key.from, "to", s.key.to, "old", s.local, "new", local)
	s.local = ""
	s.due = time.Time{}
	s.scheduleLocked(0, s.refresh)
	s.mu.Unlock()
	s.w.cfg.Lost(s.key.from, s.key.to)
}

// resubscribe is the timer callback that starts a new dialog.
func (s *subscription) resubscribe() {
	s.op.Lock()
	defer s.op.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := s.subscribe(ctx); err != nil && !errors.Is(err, ErrClosed) {
		s.w.log.Info("resubscribe failed", "from", s.key.from, "to", s.key.to, "error", err)
		s.mu.Lock()
		s.failures++
		s.scheduleLocked(s.w.retryDelay(s.failures, err), s.resubscribe)
		s.mu.Unlock()
	}
}

// lostLocked drops the dialog and schedules a new subscription after
// delay, or after backoff when useBackoff. The caller reports the loss
// (Config.Lost) once it has released s.mu.
func (s *subscription) lostLocked(delay time.Duration, useBackoff bool) {
	s.failures++
	if useBackoff {
		delay = s.w.backoff(s.failures)
	}
	if s.d != nil {
		s.w.unroute(s.d.CallID)
		s.d = nil
	}
	s.scheduleLocked(delay, s.resubscribe)
}

// notify applies a NOTIFY of the subscription's dialog and returns the
// status to answer it with.
func (s *subscription) notify(req *sip.Request) (int, string) {
	stateHdr := req.GetHeader("Subscription-State")
	if stateHdr == nil {
		return 400, "Missing Subscription-State"
	}
	ss, err := dialog.ParseSubscriptionState(stateHdr.Value())
	if err != nil {
		return 400, "Bad Subscription-State"
	}
	s.mu.Lock()
	if s.stopped || s.d == nil {
		s.mu.Unlock()
		return 481, "Subscription Does Not Exist"
	}
	if err := s.d.Notify(req); err != nil {
		s.mu.Unlock()
		switch {
		case errors.Is(err, dialog.ErrCSeqOrder):
			return 500, "CSeq Out Of Order"
		case errors.Is(err, dialog.ErrNoDialog):
			return 481, "Subscription Does Not Exist"
		default:
			return 400, "Bad Request"
		}
	}
	if s.fetched != nil {
		s.mu.Unlock()
		select {
		case s.fetched <- req.Body():
		default: // a second NOTIFY of the fetch: the first answered it
		}
		return 200, "OK"
	}
	pending := ss.State == dialog.StatePending
	lost := ss.State == dialog.StateTerminated
	if lost {
		dec := dialog.AfterTermination(ss)
		s.w.log.Info("subscription terminated by the server", "from", s.key.from, "to", s.key.to, "reason", ss.Reason.String())
		if dec.Action == dialog.Resubscribe {
			s.lostLocked(dec.After, dec.Backoff)
		} else {
			// The server will not take this subscription again; it is
			// kept so that Unsubscribe still finds it, and retried
			// rarely in case the resource returns.
			s.failures = max(s.failures, 10)
			s.lostLocked(0, true)
		}
	}
	s.mu.Unlock()
	// An active NOTIFY without a body says the presentity has no
	// published state (Kamailio sends one for a presentity nobody
	// published for); a terminated one without a body says nothing.
	switch body := req.Body(); {
	case pending && len(body) == 0:
		s.w.cfg.Pending(s.key.from, s.key.to)
	case len(body) > 0 || ss.State == dialog.StateActive:
		s.w.cfg.Notify(s.key.from, s.key.to, body)
	}
	if lost {
		s.w.cfg.Lost(s.key.from, s.key.to)
	}
	return 200, "OK"
}

// exchange runs one SUBSCRIBE of the subscription (built by build) with
// Event, Accept, Expires and a Contact naming the connection.
func (s *subscription) exchange(ctx context.Context, t locate.Target, redirect bool, expires time.Duration, build func() *sip.Request) (exchanged, error) {
	return s.w.exchange(ctx, t, s.key.from, s.from.User, redirect, func() *sip.Request {
		req := build()
		req.AppendHeader(sip.NewHeader("Event", "presence"))
		req.AppendHeader(sip.NewHeader("Accept", "application/pidf+xml"))
		exp := sip.ExpiresHeader(uint32(expires / time.Second))
		req.AppendHeader(&exp)
		return req
	})
}

func (s *subscription) scheduleRefreshLocked(granted time.Duration) {
	s.lead = dialog.RefreshLead(granted)
	s.due = s.w.cfg.Clock.Now().Add(granted - s.lead)
	s.scheduleLocked(granted-s.lead, s.refresh)
}

func (s *subscription) scheduleLocked(d time.Duration, f func()) {
	if s.stopped {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timer = s.w.cfg.Clock.AfterFunc(d, f)
}

// stop ends the subscription's timers.
func (s *subscription) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *subscription) stopLocked() {
	s.stopped = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

// granted is the subscription duration a 2xx grants: its Expires, else
// what was asked.
func granted(res *sip.Response, asked time.Duration) time.Duration {
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.ParseUint(h.Value(), 10, 32); err == nil {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}
