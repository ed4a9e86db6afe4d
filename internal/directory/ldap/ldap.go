// Package ldap is the LDAP / Active Directory implementation of
// directory.Directory, against a domain controller (Source "ldap") or a
// global catalog ("gc").
//
// A Directory keeps a small pool of connections bound as the service
// account (go-ldap has no pool and no context): every call runs under
// Config.Timeout and the caller's context, a connection that fails or was
// closed by the server is replaced and the request retried once on a fresh
// one, and any failure to reach, bind or query the directory wraps
// directory.ErrUnavailable, naming the server but never the password. User
// input only ever reaches a filter through ldap.EscapeFilter.
//
// Searches use the paged-results control (RFC 2696), so AD's per-search
// size limit (MaxPageSize, 1000) is no cap; results are sorted by mail.
package ldap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/presenced/presenced/internal/directory"
	"github.com/presenced/presenced/internal/email"
)

// pageSize is the paged-results page size of Search.
const pageSize = 100

// maxSearchText bounds Search's text.
const maxSearchText = 256

// Directory is an LDAP directory. It is safe for concurrent use.
type Directory struct {
	cfg     Config
	log     *slog.Logger
	m       metrics
	pool    *pool
	servers string // the URLs, for messages

	// mu guards base.
	mu   sync.Mutex
	base string // search base; empty until resolved from the rootDSE
}

var (
	_ directory.Directory     = (*Directory)(nil)
	_ directory.HealthChecker = (*Directory)(nil)
)

// New returns a Directory for cfg. It does not connect: the first call
// does, so presenced starts while the directory is down.
func New(cfg Config) (*Directory, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("ldap: %w", err)
	}
	var servers []Server
	var urls []string
	for _, raw := range cfg.URLs {
		srv, err := ParseURL(raw, cfg.Source)
		if err != nil {
			return nil, fmt.Errorf("ldap: %w", err)
		}
		if srv.TLS && cfg.StartTLS {
			return nil, fmt.Errorf("ldap: StartTLS with %s, which is already TLS", srv.URL)
		}
		servers = append(servers, srv)
		urls = append(urls, srv.URL)
	}
	base, err := BaseDN(cfg.Domain)
	if err != nil {
		return nil, fmt.Errorf("ldap: %w", err)
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("ldap: %w", err)
	}
	log := cfg.Logger.With("component", "directory/ldap")
	d := &Directory{
		cfg: cfg, log: log, m: m,
		pool: newPool(cfg, servers, m, log), servers: strings.Join(urls, ","), base: base,
	}
	return d, nil
}

// Close closes the idle connections; calls made afterwards fail with
// ErrUnavailable.
func (d *Directory) Close() error {
	d.pool.close()
	return nil
}

// Lookup finds the entry whose mail or smtp: proxy address is email. When
// several match (AD does not enforce uniqueness), the one whose mail is
// email wins, else the first, and the ambiguity is logged.
func (d *Directory) Lookup(ctx context.Context, addr string) (directory.Entry, error) {
	var entry directory.Entry
	err := d.observe(opLookup, func() error {
		e, err := email.Normalize(addr)
		if err != nil {
			return fmt.Errorf("%w: %w", directory.ErrInvalid, err)
		}
		return d.do(ctx, opLookup, func(ctx context.Context, c *goldap.Conn) error {
			entry, err = d.lookup(ctx, c, e)
			return err
		})
	})
	return entry, err
}

// lookup runs Lookup's search for the normalised email e on c.
func (d *Directory) lookup(ctx context.Context, c *goldap.Conn, e string) (directory.Entry, error) {
	base, err := d.baseDN(ctx, c)
	if err != nil {
		return directory.Entry{}, err
	}
	a := d.cfg.Attributes
	req := goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		2, timeLimit(ctx), false, lookupFilter(d.cfg.ObjectFilter, a, e), a.entry(), nil)
	res, err := c.Search(req)
	if err != nil && !(goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) && res != nil && len(res.Entries) > 0) {
		return directory.Entry{}, fmt.Errorf("search %s: %w", base, err)
	}
	if len(res.Entries) == 0 {
		return directory.Entry{}, directory.ErrNotFound
	}
	best := res.Entries[0]
	if len(res.Entries) > 1 {
		for _, en := range res.Entries {
			if strings.EqualFold(en.GetEqualFoldAttributeValue(a.Mail), e) {
				best = en
				break
			}
		}
		d.log.Warn("several entries have one email; using one", "entries", len(res.Entries), "dn", best.DN)
	}
	return d.entry(best), nil
}

// entry converts en.
func (d *Directory) entry(en *goldap.Entry) directory.Entry {
	a := d.cfg.Attributes
	out := directory.Entry{Card: d.card(en), Address: en.GetEqualFoldAttributeValue(a.Address), Enabled: true}
	switch v := en.GetEqualFoldAttributeValue(a.Enabled); {
	case v == "" || strings.EqualFold(v, "TRUE"):
	case strings.EqualFold(v, "FALSE"):
		out.Enabled = false
	default:
		d.log.Warn("enabled attribute is not TRUE or FALSE; taking it as enabled", "attribute", a.Enabled, "dn", en.DN)
	}
	return out
}

// card converts en's card attributes.
func (d *Directory) card(en *goldap.Entry) directory.Card {
	a := d.cfg.Attributes
	v := en.GetEqualFoldAttributeValue
	return directory.Card{
		Mail: v(a.Mail), DisplayName: v(a.DisplayName), GivenName: v(a.GivenName), SN: v(a.SN),
		Title: v(a.Title), TelephoneNumber: v(a.TelephoneNumber), Mobile: v(a.Mobile),
		SAMAccountName: v(a.SAMAccountName),
	}
}

// Search returns at most min(limit, MaxSearch) cards matching text, by
// mail. It reads every matching entry (page by page, at most MaxScan) so
// that the first cards by mail are the ones returned.
func (d *Directory) Search(ctx context.Context, text string, limit int) ([]directory.Card, error) {
	var cards []directory.Card
	err := d.observe(opSearch, func() error {
		text = strings.TrimSpace(text)
		if text == "" || len(text) > maxSearchText {
			return fmt.Errorf("%w: search text must be 1..%d bytes", directory.ErrInvalid, maxSearchText)
		}
		if limit < 1 {
			return fmt.Errorf("%w: search limit %d is below 1", directory.ErrInvalid, limit)
		}
		if strings.ContainsRune(text, 0) {
			// No directory string holds NUL, and slapd would end the
			// assertion value there ("ali\x00ce" finding alice).
			return nil
		}
		return d.do(ctx, opSearch, func(ctx context.Context, c *goldap.Conn) error {
			var err error
			cards, err = d.search(ctx, c, text)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(cards, func(x, y directory.Card) int {
		return cmp.Or(cmp.Compare(strings.ToLower(x.Mail), strings.ToLower(y.Mail)),
			cmp.Compare(x.Mail, y.Mail), cmp.Compare(x.SAMAccountName, y.SAMAccountName))
	})
	return cards[:min(len(cards), limit, d.cfg.MaxSearch)], nil
}

// search reads the cards matching text on c, paging.
func (d *Directory) search(ctx context.Context, c *goldap.Conn, text string) ([]directory.Card, error) {
	base, err := d.baseDN(ctx, c)
	if err != nil {
		return nil, err
	}
	paging := goldap.NewControlPaging(pageSize)
	req := goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, timeLimit(ctx), false, searchFilter(d.cfg.ObjectFilter, d.cfg.Attributes, text),
		d.cfg.Attributes.card(), []goldap.Control{paging})
	var cards []directory.Card
	for {
		res, err := c.Search(req)
		if err != nil {
			return nil, fmt.Errorf("search %s: %w", base, err)
		}
		for _, en := range res.Entries {
			cards = append(cards, d.card(en))
		}
		next, _ := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
		if next == nil || len(next.Cookie) == 0 {
			return cards, nil
		}
		paging.SetCookie(next.Cookie)
		if len(cards) >= d.cfg.MaxScan {
			d.log.Warn("search matches more entries than MaxScan; results are partial", "max_scan", d.cfg.MaxScan)
			// A page size of 0 with the cookie abandons the search (RFC 2696).
			paging.PagingSize = 0
			if _, err := c.Search(req); err != nil {
				return nil, fmt.Errorf("search %s: abandon paging: %w", base, err)
			}
			return cards, nil
		}
	}
}

// Healthy binds and reads the rootDSE on a pooled connection.
func (d *Directory) Healthy(ctx context.Context) error {
	return d.observe(opHealth, func() error {
		return d.do(ctx, opHealth, func(ctx context.Context, c *goldap.Conn) error {
			if d.cfg.BindDN != "" {
				if err := c.Bind(d.cfg.BindDN, d.cfg.BindPassword); err != nil {
					return fmt.Errorf("bind as %q: %w", d.cfg.BindDN, err)
				}
			}
			_, err := readRootDSE(ctx, c)
			return err
		})
	})
}

// observe runs fn and records its outcome and duration as op.
func (d *Directory) observe(op string, fn func() error) error {
	start := d.cfg.Clock.Now()
	err := fn()
	d.m.seconds.WithLabelValues(op).Observe(d.cfg.Clock.Now().Sub(start).Seconds())
	result := resultOK
	switch {
	case err == nil:
	case errors.Is(err, directory.ErrBadCredentials):
		result = resultBadCredentials
	case errors.Is(err, directory.ErrNotMember):
		result = resultNotMember
	case errors.Is(err, directory.ErrNotFound):
		result = resultNotFound
	case errors.Is(err, directory.ErrInvalid):
		result = resultInvalid
	default:
		result = resultUnavailable
	}
	d.m.requests.WithLabelValues(op, result).Inc()
	return err
}

// do runs fn on a pooled connection within Timeout and ctx. When fn fails
// because the connection broke, the connection is closed and fn runs once
// more on a new one. Every error but ErrNotFound and ErrInvalid is
// wrapped in ErrUnavailable, with the servers named.
func (d *Directory) do(ctx context.Context, op string, fn func(context.Context, *goldap.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		c, reused, err := d.pool.get(ctx)
		if err != nil {
			return err
		}
		err = run(ctx, c, fn)
		switch {
		case err == nil, errors.Is(err, directory.ErrNotFound), errors.Is(err, directory.ErrInvalid):
			d.pool.put(c, false)
			return err
		}
		broken := goldap.IsErrorWithCode(err, goldap.ErrorNetwork) || c.IsClosing()
		d.pool.put(c, broken)
		if !broken || attempt > 0 || ctx.Err() != nil {
			return fmt.Errorf("%w: ldap %s at %s: %w", directory.ErrUnavailable, op, d.servers, err)
		}
		d.m.redials.Inc()
		d.log.Info("connection failed; re-dialling once", "op", op, "reused", reused, "err", err)
	}
}

// run runs fn on c with go-ldap's timeout set to ctx's deadline, closing c
// if ctx ends first (go-ldap cannot cancel an operation otherwise).
func run(ctx context.Context, c *goldap.Conn, fn func(context.Context, *goldap.Conn) error) error {
	deadline, _ := ctx.Deadline()
	c.SetTimeout(time.Until(deadline))
	stop := context.AfterFunc(ctx, func() { c.Close() })
	err := fn(ctx, c)
	if !stop() {
		return ctxErr(ctx, cmp.Or(err, errors.New("connection closed")))
	}
	return err
}

// baseDN returns the search base, reading the rootDSE on c the first time
// when Config.Domain is empty.
func (d *Directory) baseDN(ctx context.Context, c *goldap.Conn) (string, error) {
	d.mu.Lock()
	base := d.base
	d.mu.Unlock()
	if base != "" {
		return base, nil
	}
	dse, err := readRootDSE(ctx, c)
	if err != nil {
		return "", err
	}
	base = dse.GetEqualFoldAttributeValue("defaultNamingContext")
	if base == "" {
		base = dse.GetEqualFoldAttributeValue("namingContexts")
	}
	if base == "" {
		return "", errors.New("rootDSE names no defaultNamingContext or namingContexts; configure the domain")
	}
	d.mu.Lock()
	d.base = base
	d.mu.Unlock()
	d.log.Info("search base from the rootDSE", "base", base)
	return base, nil
}

// readRootDSE reads the naming contexts of the server's rootDSE.
func readRootDSE(ctx context.Context, c *goldap.Conn) (*goldap.Entry, error) {
	req := goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, timeLimit(ctx),
		false, "(objectClass=*)", []string{"defaultNamingContext", "namingContexts"}, nil)
	res, err := c.Search(req)
	if err != nil {
		return nil, fmt.Errorf("read rootDSE: %w", err)
	}
	if len(res.Entries) != 1 {
		return nil, fmt.Errorf("read rootDSE: %d entries", len(res.Entries))
	}
	return res.Entries[0], nil
}

// timeLimit returns the server-side time limit for a search before ctx's
// deadline, in whole seconds (at least 1).
func timeLimit(ctx context.Context) int {
	deadline, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(1, int(math.Ceil(time.Until(deadline).Seconds())))
}
