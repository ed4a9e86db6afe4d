// Package account keeps one XMPP endpoint account logged in: a user
// account (presence-ep1@example.com, say) that holds roster subscriptions
// to the contacts placed on it and receives their presence.
//
// A Session speaks RFC 6120/6121 itself on encoding/xml: TLS is required
// (direct TLS, or STARTTLS which must be offered), SASL prefers
// SCRAM-SHA-256, then SCRAM-SHA-1, then PLAIN (always inside TLS), and
// the resource is bound as configured. After binding it fetches the roster
// and sends its initial presence with priority -1: RFC 6121 section 8.5.2
// keeps messages sent to the bare JID away from negative-priority
// resources, so the account never receives chat meant for a person, while
// the server still sends it the presence of every contact it is subscribed
// to. Each <presence/> the server then sends (except the echo of the
// account's own presence) goes, as its raw bytes, to Config.OnPresence.
//
// Subscriptions live in the server's roster, so a reconnect only needs the
// login and the initial presence: the server answers it with the current
// presence of every subscribed contact.
//
// Server behaviour checked by the tests (Prosody 0.12.3, ejabberd 23.01,
// both with STARTTLS required):
//   - Both offer SCRAM-SHA-256 after STARTTLS; a wrong password is a SASL
//     not-authorized failure (ErrNotAuthorized), retried with backoff.
//   - A subscription request to an offline contact is stored by both and
//     delivered when the contact next sends initial presence (RFC 6121
//     section 3.1.3); an auto-approving client then approves it and the
//     server sends the contact's presence to the account.
//   - Removing a roster item (Unwatch) ends the subscription on both; the
//     contact's later presence no longer arrives. Removing an absent item
//     is answered item-not-found, which Unwatch treats as done.
//   - A restart ends the stream with a system-shutdown stream error; the
//     session reconnects with backoff and the server sends the presence of
//     subscribed contacts again.
//   - Neither server limits roster size in the configurations tested
//     (Prosody's mod_roster and ejabberd's mod_roster have no such
//     option). The practical bound is MaxStanzaSize: the roster result is
//     one stanza of about 50-70 bytes per item, so MaxStanzaSize (512 KiB)
//     holds the 5,000 contacts an endpoint may carry.
package account

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/backoff"
	"github.com/presenced/presenced/internal/clock"
)

// Errors a Session reports. Health and Run errors wrap them.
var (
	// ErrNotConnected: the session has no live stream (yet, or any more).
	ErrNotConnected = errors.New("xmpp account: not connected")
	// ErrNotAuthorized: the server refused the credentials (SASL
	// not-authorized).
	ErrNotAuthorized = errors.New("xmpp account: not authorized")
	// ErrTLSRequired: the server offered no STARTTLS, and the session
	// refuses to authenticate without TLS.
	ErrTLSRequired = errors.New("xmpp account: server does not offer STARTTLS")
	// ErrStanzaTooLarge: the server sent an element over MaxStanzaSize.
	ErrStanzaTooLarge = errors.New("xmpp account: stanza too large")
	// ErrProtocol: the server broke the XMPP protocol.
	ErrProtocol = errors.New("xmpp account: protocol error")
	// ErrKeepAlive: a keepalive ping went unanswered for a whole period.
	ErrKeepAlive = errors.New("xmpp account: keepalive ping unanswered")
	// ErrDisconnected: the stream ended before a request was answered;
	// the request may or may not have taken effect.
	ErrDisconnected = errors.New("xmpp account: disconnected before the answer")
)

// StreamError is a <stream:error/> received from the server.
type StreamError struct {
	Condition string // e.g. "conflict", "system-shutdown"
	Text      string
}

func (e *StreamError) Error() string {
	if e.Text == "" {
		return "xmpp account: stream error " + e.Condition
	}
	return fmt.Sprintf("xmpp account: stream error %s: %s", e.Condition, e.Text)
}

// StanzaError is an <iq type="error"/> answer to a request.
type StanzaError struct {
	Type      string // "cancel", "modify", "auth", "wait"
	Condition string // e.g. "item-not-found", "not-allowed"
	Text      string
}

func (e *StanzaError) Error() string {
	s := fmt.Sprintf("xmpp account: %s error %s", e.Type, e.Condition)
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// AuthError is a SASL <failure/>. It matches ErrNotAuthorized (errors.Is)
// when its condition is not-authorized.
type AuthError struct {
	Condition string // e.g. "not-authorized", "account-disabled"
	Text      string
}

func (e *AuthError) Error() string {
	if e.Text == "" {
		return "xmpp account: authentication failed: " + e.Condition
	}
	return fmt.Sprintf("xmpp account: authentication failed: %s: %s", e.Condition, e.Text)
}

// Is reports whether target is ErrNotAuthorized and the condition says so.
func (e *AuthError) Is(target error) bool {
	return target == ErrNotAuthorized && e.Condition == "not-authorized"
}

// Config configures a Session. Zero durations take the stated defaults.
type Config struct {
	Addr     string      // c2s host:port
	JID      string      // bare JID of the account, e.g. presence-ep1@example.com
	Password string      // never logged
	Resource string      // resource to bind; default "presenced"
	TLS      *tls.Config // roots and server name; ServerName defaults to the JID's domain
	// DirectTLS starts TLS on the first byte (XEP-0368 style) instead of
	// STARTTLS, which the server must then offer.
	DirectTLS bool
	// KeepAlive is the period of XEP-0199 pings to the server; a ping still
	// unanswered one period later makes the session reconnect. Default
	// 30s; negative disables pings.
	KeepAlive time.Duration
	// RetryBase and RetryMax bound the jittered reconnect backoff
	// (backoff.Equal); defaults 1s and 1m.
	RetryBase, RetryMax time.Duration
	Clock               clock.Clock  // default clock.Real
	Logger              *slog.Logger // default slog.Default()
	// OnPresence receives every <presence/> the server sends except the
	// echo of the account's own: the element's bytes as received (no
	// namespace declaration of its own; jabber:client applies). It runs
	// on the stream's reader and must not block; raw is the callee's.
	OnPresence func(raw []byte)
	// OnState is called when the session connects (true, nil) and when a
	// connection or an attempt ends (false, why). It must not block.
	OnState func(connected bool, err error)
}

// Defaults of Config.
const (
	DefaultResource  = "presenced"
	DefaultKeepAlive = 30 * time.Second
	DefaultRetryBase = time.Second
	DefaultRetryMax  = time.Minute
)

// ioTimeout bounds the login, each write and each request made while
// connecting.
const ioTimeout = 30 * time.Second

// Item is one roster entry of the account.
type Item struct {
	JID          string // bare JID of the contact
	Subscription string // "none", "to", "from" or "both"
	// Pending reports an outgoing subscription request not yet answered
	// (ask="subscribe").
	Pending bool
}

// Session is one endpoint account. Run keeps it logged in; Watch,
// Unwatch, Roster and Health are safe for concurrent use with Run and
// each other.
type Session struct {
	cfg    Config
	local  string // localpart of cfg.JID
	domain string // domain of cfg.JID
	log    *slog.Logger

	// mu guards the fields below.
	mu      sync.Mutex
	running bool
	conn    *conn         // the live stream, nil when none
	up      chan struct{} // closed when conn is set; replaced when it is lost
	health  error         // why conn is nil; nil before the first attempt
	roster  map[string]Item
}

// New checks cfg, applies defaults and returns a Session; call Run.
func New(cfg Config) (*Session, error) {
	local, domain, ok := strings.Cut(cfg.JID, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(cfg.JID, "/ ") {
		return nil, fmt.Errorf("xmpp account: JID %q is not a bare user JID", cfg.JID)
	}
	if cfg.Addr == "" {
		return nil, errors.New("xmpp account: no server address")
	}
	if cfg.Resource == "" {
		cfg.Resource = DefaultResource
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.OnPresence == nil {
		cfg.OnPresence = func([]byte) {}
	}
	if cfg.OnState == nil {
		cfg.OnState = func(bool, error) {}
	}
	tc := &tls.Config{}
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = domain
	}
	tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	cfg.TLS = tc
	return &Session{
		cfg:    cfg,
		local:  strings.ToLower(local),
		domain: strings.ToLower(domain),
		log:    cfg.Logger.With("component", "xmpp-account", "account", cfg.JID),
		up:     make(chan struct{}),
		roster: map[string]Item{},
	}, nil
}

// bare returns the account's bare JID, lower case.
func (s *Session) bare() string { return s.local + "@" + s.domain }

// Health returns nil while the session is connected, else an error
// wrapping ErrNotConnected and, after a failed attempt, its cause (for
// example ErrNotAuthorized).
func (s *Session) Health() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.conn != nil:
		return nil
	case s.health != nil:
		return fmt.Errorf("%w: %w", ErrNotConnected, s.health)
	}
	return ErrNotConnected
}

// Run connects and keeps the session connected, reconnecting with
// jittered backoff after every failure (a refused password included),
// until ctx ends; then it closes the stream and returns ctx's error once
// every goroutine it started has stopped. A Session runs once at a time.
func (s *Session) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("xmpp account: Run called twice")
	}
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()

	for attempt := 0; ; {
		established, err := s.connectOnce(ctx)
		if ctx.Err() != nil {
			s.lost(ctx.Err())
			return ctx.Err()
		}
		s.lost(err)
		if established {
			attempt = 0
		}
		attempt++
		delay := backoff.Equal(attempt, s.cfg.RetryBase, s.cfg.RetryMax)
		s.log.Warn("xmpp account disconnected", "err", err, "retry_in", delay)
		if err := s.sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// sleep waits d on the session's clock, or until ctx ends.
func (s *Session) sleep(ctx context.Context, d time.Duration) error {
	done := make(chan struct{})
	t := s.cfg.Clock.AfterFunc(d, func() { close(done) })
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// connected publishes c as the live stream.
func (s *Session) connected(c *conn) {
	s.mu.Lock()
	s.conn, s.health = c, nil
	close(s.up)
	s.mu.Unlock()
	s.log.Info("xmpp account connected", "jid", c.jid, "sasl", c.mech)
	s.cfg.OnState(true, nil)
}

// lost records why there is no live stream.
func (s *Session) lost(err error) {
	s.mu.Lock()
	if s.conn != nil {
		s.conn = nil
		s.up = make(chan struct{})
	}
	s.health = err
	s.mu.Unlock()
	s.cfg.OnState(false, err)
}

// live returns the live stream, waiting for one until ctx ends.
func (s *Session) live(ctx context.Context) (*conn, error) {
	for {
		s.mu.Lock()
		c, up, health := s.conn, s.up, s.health
		s.mu.Unlock()
		if c != nil {
			return c, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			if health != nil {
				return nil, fmt.Errorf("%w (%w): %w", ErrNotConnected, health, ctx.Err())
			}
			return nil, fmt.Errorf("%w: %w", ErrNotConnected, ctx.Err())
		}
	}
}
