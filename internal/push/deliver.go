package push

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	backoffpkg "github.com/presenced/presenced/internal/backoff"
)

const (
	baseBackoff = 500 * time.Millisecond // ceiling of the first retry's delay
	maxBackoff  = time.Minute            // cap on every retry delay, Retry-After included
	maxDrain    = 64 << 10               // response body bytes read before closing
)

// verdict is what an attempt's result means for the hint.
type verdict uint8

const (
	delivered   verdict = iota + 1 // 2xx
	retry                          // network error, 408, 429 or 5xx
	permanent                      // any other status, or no request could be built
	interrupted                    // Run's context ended during the attempt
)

// outcome is the result of one delivery attempt.
type outcome struct {
	verdict    verdict
	status     int           // 0 when no response arrived
	retryAfter time.Duration // honoured when hasRetry
	hasRetry   bool
	err        error // network or request error
}

// work delivers queued hints until ctx is done.
func (p *Pusher) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-p.ready:
			p.attempt(ctx, e)
		}
	}
}

// attempt sends e's current body once and settles the result.
func (p *Pusher) attempt(ctx context.Context, e *entry) {
	p.mu.Lock()
	e.state = stateSending
	e.stale = false
	body, id := e.body, e.id
	p.mu.Unlock()

	start := p.clk.Now()
	out := p.post(ctx, body, id)
	if out.verdict != interrupted {
		p.m.delivery.Observe(p.clk.Now().Sub(start).Seconds())
	}
	p.settle(e, out)
}

// post makes one signed POST of body to the relay.
func (p *Pusher) post(ctx context.Context, body []byte, id string) outcome {
	actx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, p.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return outcome{verdict: permanent, err: fmt.Errorf("build push request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "presenced")
	req.Header.Set(SignatureHeader, Sign(p.secret, body))
	req.Header.Set(DeliveryHeader, id)
	resp, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return outcome{verdict: interrupted}
		}
		return outcome{verdict: retry, err: fmt.Errorf("post push hint: %w", err)}
	}
	// Drain a little so the connection can be reused, but never let a
	// relay make us read without bound.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
	return classify(resp.StatusCode, resp.Header.Get("Retry-After"), p.clk.Now())
}

// classify maps a relay's answer to a verdict.
func classify(status int, retryAfter string, now time.Time) outcome {
	out := outcome{status: status}
	switch {
	case status >= 200 && status <= 299:
		out.verdict = delivered
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		out.verdict = retry
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			out.retryAfter, out.hasRetry = parseRetryAfter(retryAfter, now)
		}
	default:
		out.verdict = permanent
	}
	return out
}

// settle records the outcome of an attempt on e: it is done, retried later
// or dropped.
func (p *Pusher) settle(e *entry, out outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() { p.m.queue.Set(float64(len(p.pending))) }()
	switch out.verdict {
	case interrupted:
		e.state = stateQueued // Run saves it on the way out
	case delivered:
		p.m.count(resultSent)
		p.log.Debug("push hint delivered", "subscription", e.sub, "status", out.status)
		p.finishLocked(e)
	case permanent:
		p.m.count(resultDroppedPermanent)
		p.log.Warn("push hint refused; dropped", "subscription", e.sub, "status", out.status, "err", out.err)
		p.finishLocked(e)
	case retry:
		e.failures++
		if e.failures >= p.cfg.MaxAttempts {
			p.m.count(resultDroppedAttempts)
			p.log.Warn("push hint undeliverable; dropped", "subscription", e.sub,
				"attempts", e.failures, "status", out.status, "err", out.err)
			delete(p.pending, e.sub)
			return
		}
		p.m.count(resultRetried)
		d := backoff(e.failures, p.jitter)
		if out.hasRetry {
			d = out.retryAfter
		}
		p.log.Debug("push hint failed; will retry", "subscription", e.sub,
			"attempt", e.failures, "status", out.status, "err", out.err, "delay", d)
		// A body replaced during the attempt is simply what the retry
		// sends.
		e.stale = false
		e.state = stateWaiting
		e.timer = p.clk.AfterFunc(d, func() { p.retryDue(e) })
	}
}

// finishLocked ends e's delivery: a hint that arrived while e was being
// sent goes out next as a fresh one; otherwise nothing is pending for the
// subscription any more.
func (p *Pusher) finishLocked(e *entry) {
	if !e.stale {
		delete(p.pending, e.sub)
		return
	}
	e.stale = false
	e.failures = 0
	p.queueLocked(e)
}

// retryDue is e's retry timer callback.
func (p *Pusher) retryDue(e *entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || e.state != stateWaiting {
		return
	}
	e.timer = nil
	p.queueLocked(e)
}

// backoff returns the delay before the retry that follows failures failed
// attempts: exponential with full jitter, uniform in [0, min(maxBackoff,
// baseBackoff·2^(failures-1))).
func backoff(failures int, jitter func(int64) int64) time.Duration {
	return time.Duration(jitter(int64(backoffpkg.Ceiling(failures, baseBackoff, maxBackoff))))
}

// parseRetryAfter parses a Retry-After value, either delay-seconds or an
// HTTP date, into a delay from now capped at maxBackoff. It reports false
// for an absent or malformed value.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return min(time.Duration(secs)*time.Second, maxBackoff), true
	}
	if at, err := http.ParseTime(v); err == nil {
		return min(max(at.Sub(now), 0), maxBackoff), true
	}
	return 0, false
}
