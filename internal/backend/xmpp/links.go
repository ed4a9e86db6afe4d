package xmpp

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/presenced/presenced/internal/xmpp/account"
	"github.com/presenced/presenced/internal/xmpp/component"
)

// NewComponentLink returns the link of a cluster reached as a privileged
// component (cfg's OnPresence and OnState are set by the link). On Watch it
// sends a presence probe from probe@<component>: servers that do not send
// the current presences when a component connects (ejabberd) answer it when
// the administrator has put that JID on the users' rosters
// (docs/xmpp.md).
func NewComponentLink(cfg component.Config) LinkMaker {
	return func(ev LinkEvents) (Link, error) {
		l := &componentLink{prober: "probe@" + cfg.JID, watched: map[string]int{}, up: make(chan struct{}, 1)}
		cfg.OnPresence = ev.Presence
		cfg.OnState = func(s component.State) {
			up := s.Connected && s.Privileged
			if up {
				select {
				case l.up <- struct{}{}: // probe everything watched (Run's loop)
				default:
				}
			}
			ev.State("", up, s.Err)
		}
		conn, err := component.New(cfg)
		if err != nil {
			return nil, err
		}
		l.conn = conn
		return l, nil
	}
}

type componentLink struct {
	conn   *component.Conn
	prober string
	up     chan struct{} // signalled when the component is up again

	mu      sync.Mutex
	watched map[string]int // JID -> watches
}

func (l *componentLink) Health() error  { return l.conn.Health() }
func (l *componentLink) Accounts() bool { return false }

// Run runs the connection, and probes every watched JID each time it is
// up: answered by servers that send no presences on connect when the
// prober is on the user's roster.
func (l *componentLink) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.up:
				l.mu.Lock()
				jids := make([]string, 0, len(l.watched))
				for j := range l.watched {
					jids = append(jids, j)
				}
				l.mu.Unlock()
				for _, j := range jids {
					if err := l.probe(ctx, j); err != nil {
						break // down again; the next up probes anew
					}
				}
			}
		}
	})
	err := l.conn.Run(ctx)
	wg.Wait()
	return err
}

func (l *componentLink) probe(ctx context.Context, jid string) error {
	return l.conn.Send(ctx, fmt.Appendf(nil, `<presence type='probe' from='%s' to='%s'/>`, l.prober, jid))
}

func (l *componentLink) Watch(ctx context.Context, _, jid string) error {
	l.mu.Lock()
	l.watched[jid]++
	l.mu.Unlock()
	if err := l.probe(ctx, jid); err != nil && !errors.Is(err, component.ErrNotConnected) {
		return err
	}
	return nil // while disconnected the probe goes out once it is up
}

func (l *componentLink) Unwatch(_ context.Context, _, jid string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.watched[jid]--; l.watched[jid] <= 0 {
		delete(l.watched, jid)
	}
	return nil
}

// NewAccountsLink returns the link of a cluster whose endpoints are XMPP
// accounts, one session per account (cfgs' OnPresence and OnState are set
// by the link); each reports its own state, by its JID as endpoint.
func NewAccountsLink(cfgs []account.Config) LinkMaker {
	return func(ev LinkEvents) (Link, error) {
		l := &accountsLink{sessions: map[string]*account.Session{}}
		for _, cfg := range cfgs {
			jid := cfg.JID
			cfg.OnPresence = ev.Presence
			cfg.OnState = func(connected bool, err error) { ev.State(jid, connected, err) }
			s, err := account.New(cfg)
			if err != nil {
				return nil, fmt.Errorf("account %s: %w", cfg.JID, err)
			}
			l.order = append(l.order, jid)
			l.sessions[jid] = s
		}
		return l, nil
	}
}

type accountsLink struct {
	order    []string
	sessions map[string]*account.Session
}

func (l *accountsLink) Accounts() bool { return true }

func (l *accountsLink) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(l.order))
	for i, jid := range l.order {
		s := l.sessions[jid]
		wg.Go(func() { errs[i] = s.Run(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (l *accountsLink) Health() error {
	var errs []error
	for _, jid := range l.order {
		if err := l.sessions[jid].Health(); err != nil {
			errs = append(errs, fmt.Errorf("account %s: %w", jid, err))
		}
	}
	return errors.Join(errs...)
}

// session is the account endpoint ep names.
func (l *accountsLink) session(ep string) (*account.Session, error) {
	s, ok := l.sessions[ep]
	if !ok {
		return nil, fmt.Errorf("no account %q in this cluster", ep)
	}
	return s, nil
}

func (l *accountsLink) Watch(ctx context.Context, ep, jid string) error {
	s, err := l.session(ep)
	if err != nil {
		return err
	}
	return s.Watch(ctx, jid)
}

func (l *accountsLink) Unwatch(ctx context.Context, ep, jid string) error {
	s, err := l.session(ep)
	if err != nil {
		return err
	}
	return s.Unwatch(ctx, jid)
}
