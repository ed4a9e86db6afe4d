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

	gone   bool   // guarded by w.mu: removed from the watcher's maps
	callID string // guarded by w.mu: the Call-ID its NOTIFYs are routed by

	// fetched, for a one-shot fetch (Watcher.Fetch), receives the body
	// of its NOTIFY instead of Config.Notify, and nothing is re-subscribed.
	fetched chan []byte
}

// subscribe starts a new dialog with an initial SUBSCRIBE; s.op is held.
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
	req := d.Request(sip.SUBSCRIBE)
	s.mu.Unlock()
	s.w.route(d.CallID, s) // before sending: the NOTIFY may precede the 200

	res, err := s.send(ctx, req, s.w.cfg.Expires)
	if err != nil {
		return fmt.Errorf("watcher: subscribe %s: %w", s.key.to, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.d != d || s.stopped {
		return nil // superseded meanwhile
	}
	if !res.IsSuccess() {
		return fmt.Errorf("watcher: subscribe %s: %w", s.key.to, &StatusError{"SUBSCRIBE", res.StatusCode, res.Reason})
	}
	if err := d.Accepted(res); err != nil {
		return fmt.Errorf("watcher: subscribe %s: %w", s.key.to, err)
	}
	s.failures = 0
	s.scheduleRefreshLocked(granted(res, s.w.cfg.Expires))
	return nil
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
	d := s.d
	req := d.Request(sip.SUBSCRIBE)
	// A refresh not answered before the subscription expires is as good
	// as lost; and sipgo does not fail a transaction whose TCP connection
	// dies, so without this bound a refresh caught by a server restart
	// would wait the whole Timer F.
	timeout := min(requestTimeout, max(time.Second, s.lead))
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := s.send(ctx, req, s.w.cfg.Expires)
	s.mu.Lock()
	if s.stopped || s.d != d {
		s.mu.Unlock()
		return
	}
	switch {
	case err == nil && res.IsSuccess():
		s.scheduleRefreshLocked(granted(res, s.w.cfg.Expires))
		s.mu.Unlock()
		return
	case err != nil:
		s.w.log.Info("subscription refresh failed", "from", s.key.from, "to", s.key.to, "error", err)
	default: // 481, 408 and every other refusal: the dialog is gone
		s.w.log.Info("subscription refresh refused", "from", s.key.from, "to", s.key.to, "status", res.StatusCode)
	}
	s.lostLocked(0, true)
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
		s.scheduleLocked(s.w.backoff(s.failures), s.resubscribe)
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
	if body := req.Body(); len(body) > 0 || ss.State == dialog.StateActive {
		s.w.cfg.Notify(s.key.from, s.key.to, body)
	}
	if lost {
		s.w.cfg.Lost(s.key.from, s.key.to)
	}
	return 200, "OK"
}

// send completes req (Event, Accept, Expires, Contact, destination) and
// runs its transaction.
func (s *subscription) send(ctx context.Context, req *sip.Request, expires time.Duration) (*sip.Response, error) {
	req.SetDestination(s.w.cfg.Server)
	req.SetTransport("TCP")
	req.AppendHeader(sip.NewHeader("Event", "presence"))
	req.AppendHeader(sip.NewHeader("Accept", "application/pidf+xml"))
	exp := sip.ExpiresHeader(uint32(expires / time.Second))
	req.AppendHeader(&exp)
	contact, err := s.w.contact(ctx, req, s.from.User)
	if err != nil {
		return nil, err
	}
	req.AppendHeader(contact)
	return s.w.client.Do(ctx, req)
}

func (s *subscription) scheduleRefreshLocked(granted time.Duration) {
	s.lead = dialog.RefreshLead(granted)
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
