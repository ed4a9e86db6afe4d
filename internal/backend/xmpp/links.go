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
		cfg.OnPresence = ev.Presence
		cfg.OnState = func(s component.State) { ev.State("", s.Connected && s.Privileged, s.Err) }
		conn, err := component.New(cfg)
		if err != nil {
			return nil, err
		}
		return &componentLink{conn: conn, prober: "probe@" + cfg.JID}, nil
	}
}

type componentLink struct {
	conn   *component.Conn
	prober string
}

func (l *componentLink) Run(ctx context.Context) error { return l.conn.Run(ctx) }
func (l *componentLink) Health() error                 { return l.conn.Health() }
func (l *componentLink) Accounts() bool                { return false }

func (l *componentLink) Watch(ctx context.Context, _, jid string) error {
	probe := fmt.Sprintf(`<presence type='probe' from='%s' to='%s'/>`, l.prober, jid)
	if err := l.conn.Send(ctx, []byte(probe)); err != nil && !errors.Is(err, component.ErrNotConnected) {
		return err
	}
	return nil // while disconnected the watch waits for the reconnection's presences
}

func (l *componentLink) Unwatch(context.Context, string, string) error { return nil }

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
