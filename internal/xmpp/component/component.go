// Package component connects presenced to an XMPP server as an external
// component (XEP-0114) that the server has granted XEP-0356 privileges,
// and hands on every presence stanza it receives as raw XML.
//
// A Conn keeps one connection: Run dials, performs the handshake, waits
// for the privilege advertisement, reads the stream and reconnects with
// jittered backoff until its context ends. Health and the OnState
// callback say whether the component is connected and privileged, and if
// not, why.
//
// Server behaviour worth knowing (see the experiments in
// research_test.go): Prosody 0.12's mod_privilege sends the advertisement
// and then the current presence of every online user; ejabberd 23.01
// sends the advertisement a moment after the handshake and no presence of
// users already online. Neither answers a probe from the component (or
// from a JID at it) unless the prober is subscribed to the user: on
// ejabberd, an admin-added roster item (ejabberdctl add_rosteritem) for
// a JID at the component makes the user's session send its presence to
// that JID at once and answer later probes from it, and mod_admin_extra's
// get_presence reports the current presence directly.
package component

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/backoff"
	"github.com/presenced/presenced/internal/clock"
)

// Defaults for the zero fields of Config.
const (
	DefaultPrivilegeWait = 10 * time.Second
	DefaultKeepAlive     = 30 * time.Second
	DefaultRetryBase     = time.Second
	DefaultRetryMax      = time.Minute
	// DefaultIOTimeout bounds the dial, the handshake and each write.
	DefaultIOTimeout = 30 * time.Second
)

// ErrNotConnected is returned by Send while there is no established
// component session.
var ErrNotConnected = errors.New("xmpp component not connected")

// Config configures a Conn. Addr, JID, Secret and Domain are required.
type Config struct {
	// Addr is the host:port of the server's component listener.
	Addr string
	// JID is the component's address, e.g. presence.example.com.
	JID string
	// Secret is the handshake secret. It is never logged.
	Secret string
	// TLS, when set, makes the connection direct TLS to Addr; nil means
	// plain TCP (XEP-0114 has no STARTTLS).
	TLS *tls.Config
	// Domain is the user domain expected to grant privileges, e.g.
	// example.com; the advertisement must come from it.
	Domain string
	// PrivilegeWait is how long after the handshake the advertisement
	// may take before Health reports its absence (default 10s). The
	// connection is kept a while longer (an advertisement arriving later
	// still counts), then dropped and made again.
	PrivilegeWait time.Duration
	// KeepAlive is the interval of XEP-0199 pings to Domain (default
	// 30s; negative disables). A ping still unanswered when the next one
	// is due drops the connection, which is then re-established.
	KeepAlive time.Duration
	// RetryBase and RetryMax bound the jittered reconnect backoff
	// (defaults 1s and 1m). The backoff restarts after a session that
	// completed its handshake.
	RetryBase, RetryMax time.Duration
	// IOTimeout bounds the dial, the handshake and each write (default
	// DefaultIOTimeout).
	IOTimeout time.Duration
	// Clock schedules keepalives, the privilege wait and backoff
	// (default clock.Real). Socket deadlines use the wall clock.
	Clock clock.Clock
	// Logger receives connection events (default slog.Default()).
	Logger *slog.Logger
	// OnPresence is called with every <presence/> received, as the raw
	// bytes of the element (its own copy), declaring
	// jabber:component:accept when the server left it to the stream
	// header. It runs on the read goroutine and must not block.
	OnPresence func(raw []byte)
	// OnState is called after each change of State, in order, and must
	// not block. It may call Health.
	OnState func(State)
}

// State is the component connection's state.
type State struct {
	// Connected reports whether the handshake has succeeded and the
	// stream is up.
	Connected bool
	// Privileged reports whether an advertisement from Domain granted
	// presence managed_entity or roster.
	Privileged bool
	// Perms are the advertised permissions, access -> type (e.g.
	// "presence" -> "roster"); nil before an advertisement.
	Perms map[string]string
	// Namespace is the advertisement's XEP-0356 namespace,
	// urn:xmpp:privilege:1 (ejabberd) or urn:xmpp:privilege:2 (Prosody).
	Namespace string
	// Err is why the component is not connected and privileged, or nil.
	Err error
}

// Conn is a component connection. Its methods are safe for concurrent use.
type Conn struct {
	cfg Config
	log *slog.Logger

	// notifyMu serialises state changes with their OnState calls, so
	// that callbacks see the changes in order.
	notifyMu sync.Mutex

	// mu guards the fields below.
	mu     sync.Mutex
	state  State
	sess   *session // current established session, nil between them
	logged string   // text of the last error logged, to log each once

	// trace, when set by tests, sees every element received.
	trace func(raw []byte)
	// attempts counts connection attempts, for tests.
	attempts atomic.Int64
}

// New validates cfg, fills in defaults and returns an unconnected Conn.
func New(cfg Config) (*Conn, error) {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"Addr", cfg.Addr}, {"JID", cfg.JID}, {"Secret", cfg.Secret}, {"Domain", cfg.Domain},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("xmpp component: missing %v", missing)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.PrivilegeWait, DefaultPrivilegeWait)
	def(&cfg.KeepAlive, DefaultKeepAlive)
	def(&cfg.RetryBase, DefaultRetryBase)
	def(&cfg.RetryMax, DefaultRetryMax)
	def(&cfg.IOTimeout, DefaultIOTimeout)
	if cfg.RetryMax < cfg.RetryBase {
		cfg.RetryMax = cfg.RetryBase
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Conn{cfg: cfg, log: cfg.Logger.With("jid", cfg.JID, "addr", cfg.Addr)}
	c.state.Err = errors.New("xmpp component not connected yet")
	return c, nil
}

// Run connects and keeps the component connected until ctx ends, then
// closes the connection and returns nil after every goroutine it started
// has stopped. Failures (refused dials, refused handshakes, dropped
// streams) are reported through Health, OnState and the log, and retried
// with backoff. Run must not be called twice at once.
func (c *Conn) Run(ctx context.Context) error {
	attempt := 0
	for {
		established, err := c.runSession(ctx)
		if ctx.Err() != nil {
			c.setState(func(s *State) { *s = State{Err: errors.New("xmpp component stopped")} })
			return nil
		}
		if established {
			attempt = 0
		}
		attempt++
		c.setState(func(s *State) { *s = State{Err: err} })
		c.logOnce(err)
		if !c.sleep(ctx, backoff.Equal(attempt, c.cfg.RetryBase, c.cfg.RetryMax)) {
			c.setState(func(s *State) { *s = State{Err: errors.New("xmpp component stopped")} })
			return nil
		}
	}
}

// sleep waits d on the configured clock; it reports false if ctx ended
// first.
func (c *Conn) sleep(ctx context.Context, d time.Duration) bool {
	done := make(chan struct{})
	t := c.cfg.Clock.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return true
	case <-ctx.Done():
		t.Stop()
		return false
	}
}

// Send writes one stanza (one complete element, e.g. a presence probe)
// to the server. Its default namespace is the stream's,
// jabber:component:accept. It returns ErrNotConnected between sessions
// and an error for a malformed or oversized stanza, which is never sent.
// A failed write drops the connection (it is then re-established).
func (c *Conn) Send(ctx context.Context, stanza []byte) error {
	if err := checkStanza(stanza); err != nil {
		return fmt.Errorf("xmpp component send: %w", err)
	}
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return ErrNotConnected
	}
	if err := s.write(ctx, stanza); err != nil {
		return fmt.Errorf("xmpp component send: %w", err)
	}
	return nil
}

// Health returns nil when the component is connected and privileged for
// trusted mode, else why not, e.g. "component handshake refused:
// not-authorized (wrong secret?)" or "no privilege advertisement from
// example.com within 10s".
func (c *Conn) Health() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Err
}

// State returns the current state (Perms is a copy).
func (c *Conn) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.state
	s.Perms = maps.Clone(s.Perms)
	return s
}

// setState applies f to the state and, if anything changed, calls
// OnState with the new state.
func (c *Conn) setState(f func(*State)) {
	c.notifyMu.Lock()
	defer c.notifyMu.Unlock()
	c.mu.Lock()
	before := c.state
	f(&c.state)
	after := c.state
	after.Perms = maps.Clone(after.Perms)
	c.mu.Unlock()
	if sameState(before, after) || c.cfg.OnState == nil {
		return
	}
	c.cfg.OnState(after)
}

// sameState reports whether a and b are equal, comparing errors by text.
func sameState(a, b State) bool {
	return a.Connected == b.Connected && a.Privileged == b.Privileged && a.Namespace == b.Namespace &&
		maps.Equal(a.Perms, b.Perms) && errText(a.Err) == errText(b.Err)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// logOnce logs err at warning level unless the last error logged had the
// same text, so a server that stays down or a wrong secret is logged once,
// not at every retry.
func (c *Conn) logOnce(err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	repeated := c.logged == err.Error()
	c.logged = err.Error()
	c.mu.Unlock()
	if !repeated {
		c.log.Warn("xmpp component connection failed; retrying with backoff", "err", err)
	}
}

// clearLogged makes the next error be logged even if it repeats an
// earlier one, after a session has worked.
func (c *Conn) clearLogged() {
	c.mu.Lock()
	c.logged = ""
	c.mu.Unlock()
}
