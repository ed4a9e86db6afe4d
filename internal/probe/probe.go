// Package probe performs the dashboard's backend "Test" checks: one real
// round trip per configured backend, reported step by step so that an
// administrator sees exactly what failed and why.
//
//   - [SIP]: locate the server, load the client certificate by friendly
//     name, load the trust store, connect, TLS handshake, OPTIONS.
//   - [XMPP]: connect to the component listener, the XEP-0114 handshake,
//     the XEP-0356 privilege advertisement.
//   - [LDAP]: connect, StartTLS when configured, bind, read the rootDSE.
//
// Each check takes the same config sub-struct the app builds its client
// from and uses the same building blocks (internal/certs,
// internal/sip/locate, internal/xmpp/component, go-ldap). A check stops at
// the first failing step; a Report never holds a password or secret.
// Every check is bounded by its context, or by DefaultTimeout when the
// context has no deadline.
package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"
)

// DefaultTimeout bounds a check whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// Report is the outcome of one check.
type Report struct {
	// Steps are the steps run, in order; only the last may have failed.
	Steps []Step
}

// Step is one step of a check.
type Step struct {
	// Name says what the step does, e.g. "TLS handshake".
	Name string
	// OK reports whether the step succeeded.
	OK bool
	// Detail is what the step found, or precisely why it failed. It
	// never holds a secret.
	Detail string
	// Duration is how long the step took.
	Duration time.Duration
}

// OK reports whether every step succeeded (and there was at least one).
func (r Report) OK() bool {
	_, failed := r.Failed()
	return len(r.Steps) > 0 && !failed
}

// Failed returns the failed step, and whether there is one.
func (r Report) Failed() (Step, bool) {
	if n := len(r.Steps); n > 0 && !r.Steps[n-1].OK {
		return r.Steps[n-1], true
	}
	return Step{}, false
}

// run records the steps of one check.
type run struct {
	ctx     context.Context
	report  Report
	secrets []string // removed from every detail
	// resolver resolves host names to dial; nil means the system's.
	resolver *net.Resolver
	failed   bool
}

// newRun returns a run bounded by ctx, or by DefaultTimeout when ctx has
// no deadline; cancel releases it.
func newRun(ctx context.Context) (*run, context.CancelFunc) {
	cancel := context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
	}
	return &run{ctx: ctx}, cancel
}

// secret makes the run remove s from every detail, as a guard against a
// library quoting it.
func (r *run) secret(s string) {
	if s != "" {
		r.secrets = append(r.secrets, s)
	}
}

// step runs fn as the step name unless an earlier step failed, records its
// outcome and reports whether it succeeded.
func (r *run) step(name string, fn func() (string, error)) bool {
	if r.failed {
		return false
	}
	start := time.Now()
	detail, err := fn()
	r.record(name, time.Since(start), detail, err)
	return err == nil
}

// record adds a step that took d: detail when err is nil, else err's
// text.
func (r *run) record(name string, d time.Duration, detail string, err error) {
	s := Step{Name: name, OK: err == nil, Detail: detail, Duration: d}
	if err != nil {
		s.Detail = r.explain(err)
		r.failed = true
	}
	for _, sec := range r.secrets {
		s.Detail = strings.ReplaceAll(s.Detail, sec, "***")
	}
	r.report.Steps = append(r.report.Steps, s)
}

// explain is err's text, naming the check's deadline when it ran out.
func (r *run) explain(err error) string {
	if errors.Is(err, context.DeadlineExceeded) || r.ctx.Err() != nil && isTimeout(err) {
		return fmt.Sprintf("timed out: %v", err)
	}
	return err.Error()
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// dial opens a TCP connection to addr, with a message that says plainly
// when nothing listens there.
func (r *run) dial(addr string) (net.Conn, error) {
	d := net.Dialer{Resolver: r.resolver}
	conn, err := d.DialContext(r.ctx, "tcp", addr)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, fmt.Errorf("connection refused by %s (nothing listening on that port?)", addr)
	case err != nil:
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return conn, nil
}

// deadline applies the run's deadline to conn's reads and writes, which
// the network libraries below do not take from a context.
func (r *run) deadline(conn net.Conn) error {
	deadline, _ := r.ctx.Deadline() // newRun always sets one
	return conn.SetDeadline(deadline)
}

// ms formats d in whole milliseconds, "3 ms".
func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
