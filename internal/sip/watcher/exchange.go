package watcher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/sip/locate"
)

// maxRedirects bounds the 3xx answers followed for one request.
const maxRedirects = 3

// exchanged is the outcome of one request.
type exchanged struct {
	res    *sip.Response
	target locate.Target // the server that answered, after redirects
	local  string        // for a SUBSCRIBE: the local address its Contact named
}

// exchange sends the request build makes to t and returns the final
// answer. build is called again for every retry, so that a dialog's
// request gets a new CSeq: after a 401 or 407 the request is sent once more
// with digest credentials of from (if Config.Credentials has any), and
// when redirect is set a 3xx is followed to the first Contact's host and
// port (the Request-URI stays the presentity: the home pool serves the
// same address). contactUser, when not empty, adds a Contact naming the
// connection's local address with that user part. A transport failure
// towards the located server is reported to Config.Servers.
func (w *Watcher) exchange(ctx context.Context, t locate.Target, from, contactUser string, redirect bool, build func() *sip.Request) (exchanged, error) {
	authRetried := false
	for hops := 0; ; {
		req := build()
		req.SetDestination(t.Addr)
		req.SetTransport(t.Transport)
		var x exchanged
		x.target = t
		if contactUser != "" {
			contact, local, err := w.contact(ctx, req, contactUser)
			if err != nil {
				w.transportFailed(t)
				return x, err
			}
			req.AppendHeader(contact)
			x.local = local
		}
		w.authorize(req, from)
		res, err := w.client.Do(ctx, req)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				w.transportFailed(t)
			}
			return x, err
		}
		x.res = res
		switch code := res.StatusCode; {
		case (code == 401 || code == 407) && !authRetried:
			if !w.challenged(from, res) {
				return x, nil
			}
			authRetried = true
		case code >= 300 && code < 400 && redirect && hops < maxRedirects:
			next, ok := redirectTarget(res, t)
			if !ok {
				return x, nil
			}
			w.log.Debug("redirected", "method", req.Method.String(), "to", req.Recipient.String(), "target", next.String(), "status", code)
			t = next
			hops++
		default:
			return x, nil
		}
	}
}

// transportFailed tells the locator that the located server t did not
// answer (a home pool is forgotten by the subscription instead).
func (w *Watcher) transportFailed(t locate.Target) {
	w.servers.Failed(t)
}

// redirectTarget is where a 3xx's first Contact points: its host and port
// (5060, or 5061 for sips:) and its transport parameter (tcp or tls; else
// TLS for sips: and the current transport otherwise).
func redirectTarget(res *sip.Response, cur locate.Target) (locate.Target, bool) {
	c := res.Contact()
	if c == nil || c.Address.Host == "" {
		return locate.Target{}, false
	}
	u := c.Address
	t := locate.Target{Transport: cur.Transport}
	if strings.EqualFold(u.Scheme, "sips") {
		t.Transport = locate.TLS
	}
	if v, ok := u.UriParams.Get("transport"); ok {
		tr, err := locate.ParseTransport(v)
		if err != nil || tr == "" {
			return locate.Target{}, false // udp, ws, ...: not ours
		}
		t.Transport = tr
	}
	port := u.Port
	if port == 0 {
		port = locate.DefaultTCPPort
		if t.Transport == locate.TLS {
			port = locate.DefaultTLSPort
		}
	}
	t.Addr = net.JoinHostPort(u.Host, strconv.Itoa(port))
	return t, true
}

// challenge is the last digest challenge of one identity, reused for its
// later requests with a growing nonce count so that they are not
// challenged again until the nonce goes stale.
type challenge struct {
	c      *digest.Challenge
	header string // Authorization or Proxy-Authorization
	count  int
}

// challenged records the challenge of a 401/407 for from and reports
// whether there are credentials to answer it with.
func (w *Watcher) challenged(from string, res *sip.Response) bool {
	if w.cfg.Credentials == nil {
		return false
	}
	if _, _, ok := w.cfg.Credentials(from); !ok {
		return false
	}
	name, header := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		name, header = "Proxy-Authenticate", "Proxy-Authorization"
	}
	h := res.GetHeader(name)
	if h == nil {
		return false
	}
	c, err := digest.ParseChallenge(h.Value())
	if err != nil || !digest.CanDigest(c) {
		w.log.Warn("unusable digest challenge", "identity", from, "error", err)
		return false
	}
	c.Algorithm = strings.ToUpper(c.Algorithm)
	w.authMu.Lock()
	w.challenges[from] = &challenge{c: c, header: header}
	w.authMu.Unlock()
	return true
}

// authorize adds credentials answering from's last challenge, if any.
func (w *Watcher) authorize(req *sip.Request, from string) {
	if w.cfg.Credentials == nil {
		return
	}
	w.authMu.Lock()
	ch := w.challenges[from]
	var count int
	if ch != nil {
		ch.count++
		count = ch.count
	}
	w.authMu.Unlock()
	if ch == nil {
		return
	}
	user, password, ok := w.cfg.Credentials(from)
	if !ok {
		return
	}
	cred, err := digest.Digest(ch.c, digest.Options{
		Method: req.Method.String(), URI: req.Recipient.Addr(),
		Username: user, Password: password, Count: count,
	})
	if err != nil {
		w.log.Warn("digest", "identity", from, "error", err)
		return
	}
	req.RemoveHeader(ch.header)
	req.AppendHeader(sip.NewHeader(ch.header, cred.String()))
}

// contact returns the Contact header for a request over the connection
// req will use: the connection's local address, so that the server
// answers over it. It also returns that address.
func (w *Watcher) contact(ctx context.Context, req *sip.Request, user string) (*sip.ContactHeader, string, error) {
	if err := sipgo.ClientRequestAddVia(w.client, req); err != nil {
		return nil, "", err
	}
	conn, err := w.ua.TransportLayer().ClientRequestConnection(ctx, req)
	if err != nil {
		return nil, "", err
	}
	local := conn.LocalAddr().String()
	host, port, err := sip.ParseAddr(local)
	if err != nil {
		return nil, "", err
	}
	return &sip.ContactHeader{Address: sip.Uri{
		Scheme: "sip", User: user, Host: host, Port: port,
		UriParams: sip.HeaderParams{{K: "transport", V: strings.ToLower(req.Transport())}},
	}}, local, nil
}

// targetFor is where a new request about presentity goes: its home pool
// when a Director redirected it before, else the located server.
func (w *Watcher) targetFor(ctx context.Context, presentity string) (locate.Target, error) {
	w.mu.Lock()
	home, ok := w.homes[presentity]
	w.mu.Unlock()
	if ok {
		return home, nil
	}
	t, err := w.servers.Server(ctx)
	if err != nil {
		return t, fmt.Errorf("locate server: %w", err)
	}
	return t, nil
}

// settled records where presentity's request ended up: a home pool
// other than the located server is remembered; a transport failure at a
// home pool forgets it, so the next request asks the Director again.
func (w *Watcher) settled(presentity string, start locate.Target, x exchanged, err error) {
	if err != nil {
		w.forgetHome(presentity, x.target)
		return
	}
	if x.res.IsSuccess() && x.target != start {
		w.mu.Lock()
		w.homes[presentity] = x.target
		w.mu.Unlock()
	}
}

// forgetHome forgets presentity's home pool after a transport failure
// there, so that its next subscription asks the Director again.
func (w *Watcher) forgetHome(presentity string, t locate.Target) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if home, ok := w.homes[presentity]; ok && home == t {
		delete(w.homes, presentity)
	}
}

// ping sends an OPTIONS to t over the connection requests to t use and
// returns that connection's local address.
func (w *Watcher) ping(ctx context.Context, t locate.Target, from sip.Uri) (string, error) {
	host, port, err := sip.ParseAddr(t.Addr)
	if err != nil {
		return "", err
	}
	var local string
	build := func() *sip.Request {
		req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: host, Port: port})
		f := &sip.FromHeader{Address: from, Params: sip.NewParams()}
		f.Params.Add("tag", newToken())
		req.AppendHeader(f)
		return req
	}
	req := build()
	req.SetDestination(t.Addr)
	req.SetTransport(t.Transport)
	if _, local, err = w.contact(ctx, req, from.User); err != nil {
		w.transportFailed(t)
		return "", err
	}
	res, err := w.client.Do(ctx, req)
	if err != nil {
		w.transportFailed(t)
		return "", err
	}
	if !res.IsSuccess() {
		return local, statusError("OPTIONS", res)
	}
	return local, nil
}

// keepAliveLoop pings every server in use each Config.KeepAlive and
// refreshes the subscriptions whose connection is not the current one
// any more: their NOTIFYs would go to a closed connection.
func (w *Watcher) keepAliveLoop(ctx context.Context) {
	defer close(w.keepAliveDone)
	if w.cfg.KeepAlive < 0 {
		return
	}
	ticks, stop := clock.Ticker(w.cfg.Clock, w.cfg.KeepAlive)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			w.keepAlive(ctx)
		}
	}
}

// keepAlive is one round of keepAliveLoop.
func (w *Watcher) keepAlive(ctx context.Context) {
	type conn struct {
		from  sip.Uri
		subs  []*subscription
		local string
	}
	byTarget := map[locate.Target]*conn{}
	w.mu.Lock()
	for _, s := range w.byKey {
		s.mu.Lock()
		t, ok := s.target, s.d != nil && s.d.Established
		s.mu.Unlock()
		if !ok {
			continue
		}
		c := byTarget[t]
		if c == nil {
			c = &conn{from: s.from}
			byTarget[t] = c
		}
		c.subs = append(c.subs, s)
	}
	w.mu.Unlock()
	for t, c := range byTarget {
		pctx, cancel := context.WithTimeout(ctx, min(w.cfg.KeepAlive, requestTimeout))
		local, err := w.ping(pctx, t, c.from)
		cancel()
		if err != nil && local == "" {
			w.log.Info("keep-alive failed", "server", t.String(), "error", err)
			continue // the subscriptions' own refreshes will find out
		}
		for _, s := range c.subs {
			s.connectionChanged(local)
		}
	}
}

// retryDelay is how long to wait before subscribing again after err: the
// jittered backoff, or longer when the server said Retry-After.
func (w *Watcher) retryDelay(failures int, err error) time.Duration {
	d := w.backoff(failures)
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > d {
		d = se.RetryAfter
	}
	return d
}
