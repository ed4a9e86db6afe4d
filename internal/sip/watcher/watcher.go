// Package watcher holds SIP SIMPLE presence subscriptions (RFC 6665,
// RFC 3856) on sipgo's transaction layer: it sends SUBSCRIBEs from the
// identities it is given, routes incoming NOTIFYs to their dialogs,
// refreshes subscriptions before they expire, re-establishes the ones the
// server loses (481, 408, transport failures, terminated NOTIFYs) with
// jittered backoff, and ends them with Expires: 0. It also sends PUBLISH
// (RFC 3903) for a user's own presence.
//
// All traffic goes over one connection to the configured server, reused
// for every request; the Contact of each request names that connection's
// local address, so the server sends its NOTIFYs back over it.
package watcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	randv2 "math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/backoff"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/sip/dialog"
)

// Config configures a Watcher.
type Config struct {
	// Server is the presence server's host:port.
	Server string
	// Expires is the subscription duration asked for; default 600 s.
	Expires time.Duration
	// Notify receives the body of every NOTIFY that carries one, and the
	// empty body of an active NOTIFY without one (no published state):
	// the subscriber identity, the presentity, the PIDF document. It runs
	// on the transport's goroutine and must not block.
	Notify func(from, to string, body []byte)
	// Lost is told that the subscription of from to to was lost and is
	// being re-established (the presentity's state is unknown until the
	// next Notify). It must not block.
	Lost func(from, to string)
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

	mu     sync.Mutex
	closed bool
	byKey  map[key]*subscription    // live subscriptions by identity and presentity
	byCall map[string]*subscription // the same, by Call-ID of their current dialog
}

type key struct{ from, to string }

// New returns a Watcher for cfg.Server.
func New(cfg Config) (*Watcher, error) {
	if _, _, err := net.SplitHostPort(cfg.Server); err != nil {
		return nil, fmt.Errorf("watcher: server %q: %w", cfg.Server, err)
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
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("presenced"))
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
	w := &Watcher{cfg: cfg, log: log, ua: ua, client: client, server: server,
		byKey: map[key]*subscription{}, byCall: map[string]*subscription{}}
	server.OnNotify(w.onNotify)
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
	req := s.d.Request(sip.SUBSCRIBE)
	w.route(s.d.CallID, s)
	defer w.unroute(s.d.CallID)
	res, err := s.send(ctx, req, 0)
	if err != nil {
		return nil, fmt.Errorf("watcher: fetch %s: %w", to, err)
	}
	if !res.IsSuccess() {
		return nil, fmt.Errorf("watcher: fetch %s: %w", to, &StatusError{"SUBSCRIBE", res.StatusCode, res.Reason})
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
	var req *sip.Request
	if s.d != nil && s.d.Established {
		req = s.d.Request(sip.SUBSCRIBE)
	}
	s.mu.Unlock()
	if req == nil {
		return nil
	}
	res, err := s.send(ctx, req, 0)
	if err != nil {
		return fmt.Errorf("watcher: unsubscribe %s: %w", to, err)
	}
	if !res.IsSuccess() && res.StatusCode != 481 { // 481: the server had lost it anyway
		return fmt.Errorf("watcher: unsubscribe %s: %w", to, &StatusError{"SUBSCRIBE", res.StatusCode, res.Reason})
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

// contact returns the Contact header for a request over the connection
// req will use: the connection's local address, so that the server
// answers over it.
func (w *Watcher) contact(ctx context.Context, req *sip.Request, user string) (*sip.ContactHeader, error) {
	if err := sipgo.ClientRequestAddVia(w.client, req); err != nil {
		return nil, err
	}
	conn, err := w.ua.TransportLayer().ClientRequestConnection(ctx, req)
	if err != nil {
		return nil, err
	}
	host, port, err := sip.ParseAddr(conn.LocalAddr().String())
	if err != nil {
		return nil, err
	}
	return &sip.ContactHeader{Address: sip.Uri{
		Scheme: "sip", User: user, Host: host, Port: port,
		UriParams: sip.HeaderParams{{K: "transport", V: strings.ToLower(req.Transport())}},
	}}, nil
}
