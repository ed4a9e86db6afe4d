// Package watcher holds SIP SIMPLE presence subscriptions (RFC 6665,
// RFC 3856) on sipgo's transaction layer: it sends SUBSCRIBEs from the
// identities it is given, routes incoming NOTIFYs to their dialogs,
// refreshes subscriptions before they expire, re-establishes the ones the
// server loses (481, 408, transport failures, terminated NOTIFYs) with
// jittered backoff, and ends them with Expires: 0. It also sends PUBLISH
// (RFC 3903) for a user's own presence.
//
// Requests go over one reused TCP or TLS connection per server; the
// Contact of each SUBSCRIBE names that connection's local address, so the
// server sends its NOTIFYs back over it. A keep-alive OPTIONS finds a
// dropped connection, and the subscriptions it carried are refreshed over
// a new one. A server that challenges gets digest credentials; a Director
// that redirects (3xx) a presentity is followed to its home pool, which is
// remembered for that presentity until a transport failure there.
package watcher

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	randv2 "math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/backoff"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/sip/dialog"
	"github.com/presenced/presenced/internal/sip/locate"
)

// Config configures a Watcher.
type Config struct {
	// Servers locates the presence server (or Director) that new
	// requests go to. When nil, Server is used.
	Servers locate.Servers
	// Server is the presence server's host:port over TCP, used when
	// Servers is nil.
	Server string
	// TLS is the client configuration for TLS targets: the trust store
	// (RootCAs) and the client certificate. Nil means the system roots
	// and no client certificate.
	TLS *tls.Config
	// Resolver resolves the host names of targets; nil means the
	// system's.
	Resolver *net.Resolver
	// Credentials returns the digest credentials of identity from for a
	// server that challenges its requests (401/407). Nil, or ok false, is
	// trusted mode: the server trusts the watcher's certificate or
	// address and a challenge is a refusal.
	Credentials func(from string) (username, password string, ok bool)
	// Expires is the subscription duration asked for; default 600 s.
	Expires time.Duration
	// KeepAlive is how often an OPTIONS goes over every connection in
	// use; it finds a dropped connection, whose subscriptions are then
	// refreshed over a new one. Default 15 s; negative disables.
	KeepAlive time.Duration
	// Notify receives the body of every NOTIFY that carries one, and the
	// empty body of an active NOTIFY without one (no published state):
	// the subscriber identity, the presentity, the PIDF document. It runs
	// on the transport's goroutine and must not block.
	Notify func(from, to string, body []byte)
	// Pending is told that the subscription of from to to waits for the
	// presentity's authorisation (Subscription-State: pending). It must
	// not block.
	Pending func(from, to string)
	// Lost is told that the subscription of from to to was lost and is
	// being re-established (the presentity's state is unknown until the
	// next Notify). It must not block.
	Lost func(from, to string)
	// Refreshed is told, for every refresh the server accepted, how long
	// after it was due the 2xx arrived. It must not block.
	Refreshed func(lag time.Duration)
	// Clock schedules refreshes and retries; default the real clock.
	Clock clock.Clock
	// Logger may be nil.
	Logger *slog.Logger
	// RetryBase and RetryMax bound the jittered backoff of
	// re-subscriptions; defaults 1 s and 5 min.
	RetryBase, RetryMax time.Duration
}

// Errors of Subscribe.
var (
	// ErrRefused wraps a non-2xx final answer to a SUBSCRIBE or PUBLISH;
	// errors.As gives the *StatusError.
	ErrRefused = errors.New("refused")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("watcher closed")
)

// StatusError is a final non-2xx answer.
type StatusError struct {
	Method string
	Code   int
	Reason string
	// RetryAfter is the answer's Retry-After (RFC 3261 §20.33), zero
	// without one.
	RetryAfter time.Duration
}

// statusError returns the StatusError of a final answer.
func statusError(method string, res *sip.Response) *StatusError {
	e := &StatusError{Method: method, Code: res.StatusCode, Reason: res.Reason}
	if h := res.GetHeader("Retry-After"); h != nil {
		// delta-seconds [comment] *(;retry-param) (RFC 3261 §20.33)
		v := strings.TrimSpace(h.Value())
		if end := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' }); end >= 0 {
			v = v[:end]
		}
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered %d %s", e.Method, e.Code, e.Reason)
}

// Unwrap makes a StatusError match ErrRefused.
func (e *StatusError) Unwrap() error { return ErrRefused }

// Watcher holds subscriptions. Its methods are safe for concurrent use.
type Watcher struct {
	cfg    Config
	log    *slog.Logger
	ua     *sipgo.UserAgent
	client *sipgo.Client
	server *sipgo.Server

	servers       locate.Servers
	stopKeepAlive context.CancelFunc
	keepAliveDone chan struct{}

	mu     sync.Mutex
	closed bool
	byKey  map[key]*subscription    // live subscriptions by identity and presentity
	byCall map[string]*subscription // the same, by Call-ID of their current dialog
	homes  map[string]locate.Target // presentity -> home pool a Director redirected it to

	authMu     sync.Mutex
	challenges map[string]*challenge // by identity: the last digest challenge
}

type key struct{ from, to string }

// New returns a Watcher for cfg.Server.
func New(cfg Config) (*Watcher, error) {
	if cfg.Servers == nil {
		if _, _, err := net.SplitHostPort(cfg.Server); err != nil {
			return nil, fmt.Errorf("watcher: server %q: %w", cfg.Server, err)
		}
		cfg.Servers = locate.Static{Addr: cfg.Server, Transport: locate.TCP}
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 15 * time.Second
	}
	if cfg.Expires <= 0 {
		cfg.Expires = 600 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Minute
	}
	if cfg.Notify == nil {
		cfg.Notify = func(string, string, []byte) {}
	}
	if cfg.Lost == nil {
		cfg.Lost = func(string, string) {}
	}
	if cfg.Pending == nil {
		cfg.Pending = func(string, string) {}
	}
	if cfg.Refreshed == nil {
		cfg.Refreshed = func(time.Duration) {}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []sipgo.UserAgentOption{
		sipgo.WithUserAgent("presenced"),
		// A transaction whose connection closes fails at once instead
		// of waiting for Timer F.
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerTerminateOnConnClose()),
	}
	if cfg.TLS != nil {
		opts = append(opts, sipgo.WithUserAgenTLSConfig(cfg.TLS))
	}
	if cfg.Resolver != nil {
		opts = append(opts, sipgo.WithUserAgentDNSResolver(cfg.Resolver))
	}
	ua, err := sipgo.NewUA(opts...)
	if err != nil {
		return nil, fmt.Errorf("watcher: user agent: %w", err)
	}
	client, err := sipgo.NewClient(ua)
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("watcher: client: %w", err)
	}
	server, err := sipgo.NewServer(ua)
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("watcher: server: %w", err)
	}
	w := &Watcher{cfg: cfg, log: log, ua: ua, client: client, server: server, servers: cfg.Servers,
		byKey: map[key]*subscription{}, byCall: map[string]*subscription{},
		homes: map[string]locate.Target{}, challenges: map[string]*challenge{}}
	server.OnNotify(w.onNotify)
	ctx, cancel := context.WithCancel(context.Background())
	w.stopKeepAlive, w.keepAliveDone = cancel, make(chan struct{})
	go w.keepAliveLoop(ctx)
	return w, nil
}

// Close ends every subscription's timers (without un-subscribing: the
// server lets them expire) and closes the connection.
func (w *Watcher) Close() error {
	w.mu.Lock()
	w.closed = true
	subs := make([]*subscription, 0, len(w.byKey))
	for _, s := range w.byKey {
		subs = append(subs, s)
	}
	w.mu.Unlock()
	for _, s := range subs {
		s.stop()
	}
	w.stopKeepAlive()
	<-w.keepAliveDone
	return w.ua.Close()
}

// Subscriptions returns how many subscriptions are held (established or
// being re-established).
func (w *Watcher) Subscriptions() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.byKey)
}

// Subscribe subscribes identity from to the presence of to (both SIP
// URIs) and keeps the subscription until Unsubscribe. It returns once
// the server accepted the first SUBSCRIBE; an error means it did not, and
// nothing is kept. Subscribing twice is a no-op.
func (w *Watcher) Subscribe(ctx context.Context, from, to string) error {
	var fromURI, toURI sip.Uri
	if err := sip.ParseUri(from, &fromURI); err != nil {
		return fmt.Errorf("watcher: identity %q: %w", from, err)
	}
	if err := sip.ParseUri(to, &toURI); err != nil {
		return fmt.Errorf("watcher: presentity %q: %w", to, err)
	}
	k := key{from, to}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	if _, ok := w.byKey[k]; ok {
		w.mu.Unlock()
		return nil
	}
	s := &subscription{w: w, key: k, from: fromURI, to: toURI}
	w.byKey[k] = s
	w.mu.Unlock()

	s.op.Lock()
	defer s.op.Unlock()
	if err := s.subscribe(ctx); err != nil {
		w.forget(s)
		s.stop()
		return err
	}
	return nil
}

// Fetch returns the presence document of to once, without keeping a
// subscription: an Expires: 0 SUBSCRIBE (RFC 6665 §4.4.3), whose NOTIFY
// carries the current state. An empty body means no published state.
func (w *Watcher) Fetch(ctx context.Context, from, to string) ([]byte, error) {
	var fromURI, toURI sip.Uri
	if err := sip.ParseUri(from, &fromURI); err != nil {
		return nil, fmt.Errorf("watcher: identity %q: %w", from, err)
	}
	if err := sip.ParseUri(to, &toURI); err != nil {
		return nil, fmt.Errorf("watcher: presentity %q: %w", to, err)
	}
	s := &subscription{w: w, key: key{from, to}, from: fromURI, to: toURI, fetched: make(chan []byte, 1)}
	s.d = dialog.New(fromURI, toURI, newToken(), newToken(), randv2.Uint32N(1<<16))
	w.route(s.d.CallID, s)
	defer w.unroute(s.d.CallID)
	t, err := w.targetFor(ctx, to)
	if err != nil {
		return nil, fmt.Errorf("watcher: fetch %s: %w", to, err)
	}
	// Only this goroutine builds requests of the fetch's dialog until
	// the answer; its NOTIFY touches the dialog under s.mu.
	x, err := s.exchange(ctx, t, true, 0, func() *sip.Request {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.d.Request(sip.SUBSCRIBE)
	})
	if err != nil {
		return nil, fmt.Errorf("watcher: fetch %s: %w", to, err)
	}
	if !x.res.IsSuccess() {
		return nil, fmt.Errorf("watcher: fetch %s: %w", to, statusError("SUBSCRIBE", x.res))
	}
	select {
	case body := <-s.fetched:
		return body, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("watcher: fetch %s: no NOTIFY: %w", to, ctx.Err())
	}
}

// Unsubscribe ends the subscription of from to to with an Expires: 0
// SUBSCRIBE. Unsubscribing what is not subscribed is a no-op. After it
// returns no Notify or Lost is reported for the pair.
func (w *Watcher) Unsubscribe(ctx context.Context, from, to string) error {
	w.mu.Lock()
	s := w.byKey[key{from, to}]
	w.mu.Unlock()
	if s == nil {
		return nil
	}
	w.forget(s)
	s.stop()
	s.op.Lock() // let a transaction in flight finish first
	defer s.op.Unlock()
	s.mu.Lock()
	d, t := s.d, s.target
	s.mu.Unlock()
	if d == nil || !d.Established {
		return nil
	}
	x, err := s.exchange(ctx, t, false, 0, s.inDialog(d))
	if err != nil {
		return fmt.Errorf("watcher: unsubscribe %s: %w", to, err)
	}
	if !x.res.IsSuccess() && x.res.StatusCode != 481 { // 481: the server had lost it anyway
		return fmt.Errorf("watcher: unsubscribe %s: %w", to, statusError("SUBSCRIBE", x.res))
	}
	return nil
}

// forget removes s from the maps (it stays reachable for its caller).
func (w *Watcher) forget(s *subscription) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.byKey[s.key] == s {
		delete(w.byKey, s.key)
	}
	if w.byCall[s.callID] == s {
		delete(w.byCall, s.callID)
	}
	s.gone = true
}

// route makes callID's NOTIFYs reach s.
func (w *Watcher) route(callID string, s *subscription) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !s.gone {
		w.byCall[callID] = s
		s.callID = callID
	}
}

func (w *Watcher) unroute(callID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.byCall, callID)
}

// onNotify answers a NOTIFY and hands it to its subscription.
func (w *Watcher) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	respond := func(code int, reason string) {
		if err := tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil)); err != nil {
			w.log.Debug("answer NOTIFY", "error", err)
		}
	}
	callID := req.CallID()
	if callID == nil {
		respond(400, "Missing Call-ID")
		return
	}
	w.mu.Lock()
	s := w.byCall[string(*callID)]
	w.mu.Unlock()
	if s == nil {
		respond(481, "Subscription Does Not Exist")
		return
	}
	code, reason := s.notify(req)
	respond(code, reason)
}

// newToken returns a random token for tags and Call-IDs.
func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// backoff is the delay before re-subscription attempt n (from 1).
func (w *Watcher) backoff(n int) time.Duration {
	return backoff.Equal(n, w.cfg.RetryBase, w.cfg.RetryMax)
}
