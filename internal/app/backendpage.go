package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/presenced/presenced/internal/admin"
	"github.com/presenced/presenced/internal/api"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/probe"
	"github.com/presenced/presenced/internal/store"
)

// clustersKey is the list-of-mappings key whose items the page edits
// field by field, as clustersKey.N.KEY.
const clustersKey = "backend.xmpp.clusters"

// fieldSpec describes one editable field of the backend page.
type fieldSpec struct {
	key, label, typ, help string
	choices               []string
}

var (
	commonFields = []fieldSpec{
		{key: "backend.endpoints", label: "Endpoints", typ: "list", help: "Endpoint identities, one per line, filled in order. Empty: the default ones."},
		{key: "backend.max_subscriptions_per_endpoint", label: "Max subscriptions per endpoint", typ: "number", help: "1 to 5000; default 1000."},
	}
	sipServerFields = []fieldSpec{
		{key: "backend.sip.server", label: "Server or Director", typ: "text", help: "host:port, or a domain looked up by DNS SRV."},
		{key: "backend.sip.transport", label: "Transport", typ: "choice", choices: []string{"tls", "tcp"}},
		{key: "backend.sip.domain", label: "SIP domain", typ: "text", help: "The domain of the default endpoint identities."},
		{key: "backend.sip.endpoint_count", label: "Default endpoints", typ: "number", help: "How many default identities when no endpoints are listed (1 to 100)."},
	}
	sipTLSFields = []fieldSpec{
		{key: "backend.sip.tls.client_pkcs12", label: "PKCS#12 file", typ: "text", help: "Path of the client certificate file on the presenced host."},
		{key: "backend.sip.tls.client_pkcs12_password", label: "PKCS#12 password", typ: "secret"},
		{key: "backend.sip.tls.client_friendly_name", label: "Certificate friendly name", typ: "text", help: "The alias of the certificate in the file (case-sensitive)."},
		{key: "backend.sip.tls.trust_store", label: "Trust store", typ: "text", help: "Directory or file of CA certificates (PEM or DER); empty: the system's."},
		{key: "backend.sip.tls.server_name", label: "Server certificate name", typ: "text", help: "Empty: the server's host (for SRV, the domain)."},
	}
	sipAuthFields = []fieldSpec{
		{key: "backend.sip.auth.username", label: "Digest user name", typ: "text", help: "Empty: each endpoint's own user part."},
		{key: "backend.sip.auth.password", label: "Digest password", typ: "secret", help: "Empty: trusted mode (no digest)."},
	}
	xmppFields = []fieldSpec{
		{key: "backend.xmpp.mode", label: "Mode", typ: "choice", choices: []string{config.XMPPComponent, config.XMPPAccounts}, help: "component: privileged XEP-0114 component; accounts: endpoint accounts with rosters."},
		{key: "backend.max_subscriptions_per_endpoint", label: "Max subscriptions per endpoint", typ: "number", help: "1 to 5000; default 1000."},
	}
	clusterFields = []fieldSpec{
		{key: "server", label: "Server", typ: "text", help: "host:port of the component listener (component mode) or the client port (accounts mode)."},
		{key: "tls", label: "TLS", typ: "choice", choices: []string{"", "starttls", "direct", "none"}, help: "Empty: starttls in accounts mode, direct in component mode."},
		{key: "trust_store", label: "Trust store", typ: "text"},
		{key: "server_name", label: "Server certificate name", typ: "text"},
		{key: "domains", label: "Email domains", typ: "list", help: "The contacts' email domains this cluster serves; empty: every other domain."},
		{key: "xmpp_domain", label: "XMPP domain", typ: "text"},
		{key: "component", label: "Component address", typ: "text", help: "Component mode."},
		{key: "secret", label: "Component secret", typ: "secret", help: "Component mode."},
		{key: "component_endpoints", label: "Component endpoints", typ: "number", help: "Component mode: pool slots (0 means 10)."},
		{key: "accounts", label: "Accounts", typ: "list", help: "Accounts mode: endpoint JIDs, one per line, filled in order."},
		{key: "password", label: "Accounts' password", typ: "secret", help: "Accounts mode."},
	}
	directoryFields = []fieldSpec{
		{key: "directory.kind", label: "Directory", typ: "choice", choices: []string{"", config.DirectoryLDAP}, help: "Empty: none."},
		{key: "directory.ldap.url", label: "Server URL", typ: "text", help: "ldap://host:port or ldaps://host:port, or a host."},
		{key: "directory.ldap.source", label: "Source", typ: "choice", choices: []string{"ldap", "gc"}, help: "ldap: a domain controller; gc: a global catalog."},
		{key: "directory.ldap.domain", label: "Domain", typ: "text", help: "Search base as a DN or an FQDN; empty: the server's default."},
		{key: "directory.ldap.starttls", label: "StartTLS", typ: "bool"},
		{key: "directory.ldap.trust_store", label: "Trust store", typ: "text"},
		{key: "directory.ldap.bind_dn", label: "Bind account (DN)", typ: "text"},
		{key: "directory.ldap.bind_password", label: "Bind password", typ: "secret"},
	}
)

// loadFunc turns values saved in the dashboard into the configuration to
// run: config.Load of the process's Source with them, or config.Overlay
// of a given configuration.
type loadFunc func(saved map[string]any) (config.Config, error)

// backendPage implements admin.BackendView. One serves every generation
// of a process; the supervisor tells it which configuration runs.
type backendPage struct {
	load    loadFunc
	origins func(saved map[string]any) map[string]string
	saved   store.ConfigStore
	clk     clock.Clock
	// apply has the configuration run by a new generation and returns
	// its number; prev is the saved configuration it replaced, to be put
	// back when the generation cannot start. Nil when nothing can restart
	// the gateway (tests).
	apply func(cfg config.Config, prev store.SavedConfig) int64

	// saveMu serialises Save and Reset, so that each starts from what
	// the one before stored (no lost update between two admins).
	saveMu sync.Mutex

	mu       sync.Mutex
	cur      config.Config // the running configuration
	gen      int64
	pending  int64
	applyErr string
}

var _ admin.BackendView = (*backendPage)(nil)

// running records that generation gen runs cfg.
func (p *backendPage) running(cfg config.Config, gen int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur, p.gen = cfg, gen
	p.pending = max(p.pending, gen)
}

// failed records that the last saved values could not be applied.
func (p *backendPage) failed(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applyErr = err.Error()
	p.pending = p.gen
}

func (p *backendPage) savedValues(ctx context.Context) (store.SavedConfig, error) {
	sc, err := p.saved.Get(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return store.SavedConfig{Values: map[string]any{}}, nil
	}
	return sc, err
}

// specs returns the page's fields for cfg, by section, keyed as Test and
// Save take them.
func specs(cfg config.Config) []struct {
	title  string
	fields []fieldSpec
} {
	type section = struct {
		title  string
		fields []fieldSpec
	}
	var out []section
	switch cfg.Backend.Kind {
	case config.BackendSIP:
		out = append(out, section{"SIP server", append(slices.Clone(sipServerFields), commonFields...)},
			section{"Certificates", sipTLSFields}, section{"Digest authentication", sipAuthFields})
	case config.BackendXMPP:
		out = append(out, section{"XMPP", xmppFields})
		for i, c := range cfg.Backend.XMPP.Clusters {
			var fs []fieldSpec
			for _, f := range clusterFields {
				f.key = fmt.Sprintf("%s.%d.%s", clustersKey, i, f.key)
				fs = append(fs, f)
			}
			out = append(out, section{"Cluster " + c.Name, fs})
		}
	default:
		out = append(out, section{"Native backend", commonFields})
	}
	return append(out, section{"Directory", directoryFields})
}

// Form implements admin.BackendView.
func (p *backendPage) Form(ctx context.Context) (admin.BackendForm, error) {
	sc, err := p.savedValues(ctx)
	if err != nil {
		return admin.BackendForm{}, err
	}
	f, _ := p.form(sc)
	return f, nil
}

// form builds the page from what is saved (sc) and the running
// configuration, which it returns too.
func (p *backendPage) form(sc store.SavedConfig) (admin.BackendForm, config.Config) {
	p.mu.Lock()
	cfg, gen, pending, applyErr := p.cur, p.gen, p.pending, p.applyErr
	p.mu.Unlock()
	origins := p.origins(sc.Values)
	red := cfg.Redacted()
	items := cfg.Tables(clustersKey)
	f := admin.BackendForm{Kind: cfg.Backend.Kind, Generation: gen, Pending: pending, Error: applyErr}
	if len(sc.Values) > 0 { // after a Reset the record is empty: nothing saved
		f.SavedBy = sc.UpdatedBy
		if !sc.UpdatedAt.IsZero() {
			at := sc.UpdatedAt
			f.SavedAt = &at
		}
	}
	for _, sec := range specs(cfg) {
		out := admin.FormSection{Title: sec.title}
		for _, s := range sec.fields {
			ff := admin.FormField{Key: s.key, Label: s.label, Type: s.typ, Help: s.help, Choices: s.choices}
			var v any
			if i, sub, ok := clusterField(s.key); ok {
				if i < len(items) {
					v = items[i][sub]
				}
				ff.Origin = origins[clustersKey]
			} else {
				v = red[s.key]
				ff.Origin = origins[s.key]
			}
			ff.ReadOnly = ff.Origin != "" && ff.Origin != config.OriginFile && ff.Origin != config.OriginSaved
			if s.typ == "secret" {
				ff.Set = fmt.Sprint(v) != ""
			} else {
				ff.Value = formValue(v)
			}
			out.Fields = append(out.Fields, ff)
		}
		f.Sections = append(f.Sections, out)
	}
	return f, cfg
}

// formValue renders a configuration value as the page's text.
func formValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case []string:
		return strings.Join(v, "\n")
	}
	return fmt.Sprint(v)
}

// clusterField splits clustersKey.N.KEY.
func clusterField(key string) (int, string, bool) {
	rest, ok := strings.CutPrefix(key, clustersKey+".")
	if !ok {
		return 0, "", false
	}
	n, sub, ok := strings.Cut(rest, ".")
	i, err := strconv.Atoi(n)
	if !ok || err != nil || i < 0 || sub == "" {
		return 0, "", false
	}
	return i, sub, true
}

// candidate is a checked change: the configuration it gives, the values
// to save, and the changed fields before and after.
type candidate struct {
	cfg           config.Config
	saved         map[string]any
	prev          store.SavedConfig // what is saved now
	before, after map[string]string
}

// check turns the page's values into a candidate, or a problem naming
// every field at fault.
func (p *backendPage) check(ctx context.Context, values map[string]string) (candidate, error) {
	sc, err := p.savedValues(ctx)
	if err != nil {
		return candidate{}, err
	}
	form, cur := p.form(sc)
	fields := map[string]admin.FormField{}
	for _, sec := range form.Sections {
		for _, f := range sec.Fields {
			fields[f.Key] = f
		}
	}
	c := candidate{saved: maps.Clone(sc.Values), prev: sc, before: map[string]string{}, after: map[string]string{}}
	if c.saved == nil {
		c.saved = map[string]any{}
	}
	items := cur.Tables(clustersKey)
	itemsChanged := false
	var errs []api.FieldError
	for _, key := range slices.Sorted(maps.Keys(values)) {
		v := values[key]
		f, ok := fields[key]
		switch {
		case !ok:
			errs = append(errs, api.FieldError{Field: key, Detail: "is not a field of this backend page"})
			continue
		case f.ReadOnly:
			errs = append(errs, api.FieldError{Field: key, Detail: fmt.Sprintf("is set by %s, which overrides the dashboard: change it there", f.Origin)})
			continue
		case len(v) > 4096:
			errs = append(errs, api.FieldError{Field: key, Detail: "is longer than 4096 characters"})
			continue
		case f.Type == "secret" && v == "":
			continue // unchanged
		case f.Type != "secret" && v == f.Value:
			continue
		}
		if f.Type == "secret" {
			c.before[key], c.after[key] = map[bool]string{true: "(set)", false: "(not set)"}[f.Set], "(changed)"
		} else {
			c.before[key], c.after[key] = f.Value, v
		}
		if i, sub, ok := clusterField(key); ok {
			if i >= len(items) {
				errs = append(errs, api.FieldError{Field: key, Detail: "names no cluster"})
				continue
			}
			items[i][sub] = v
			itemsChanged = true
			continue
		}
		c.saved[key] = v
	}
	if itemsChanged {
		raw := make([]any, len(items))
		for i, m := range items {
			raw[i] = map[string]any(m)
		}
		c.saved[clustersKey] = raw
	}
	if len(errs) > 0 {
		return candidate{}, api.InvalidFields(errs...)
	}
	c.cfg, err = p.load(c.saved)
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			return candidate{}, api.InvalidFields(problemFields(ps)...)
		}
		return candidate{}, err
	}
	if err := preflight(c.cfg); err != nil {
		return candidate{}, err
	}
	return c, nil
}

// preflight refuses what building the connectors from cfg would refuse
// although the configuration is valid: a PKCS#12 file that does not load
// or lacks the friendly name, an unreadable trust store or secret file.
// The error names the key at fault, from the builders' "key: reason".
func preflight(cfg config.Config) error {
	var err error
	if cfg.Backend.Kind == config.BackendSIP {
		_, err = sipTransport(cfg.Backend.SIP)
	}
	if err == nil && cfg.Directory.Kind == config.DirectoryLDAP {
		_, _, err = ldapCredentials(cfg.Directory.LDAP)
	}
	if err == nil {
		return nil
	}
	key, detail, _ := strings.Cut(err.Error(), ": ")
	if !strings.HasPrefix(key, "backend.") && !strings.HasPrefix(key, "directory.") {
		key, detail = "backend", err.Error()
	}
	return api.InvalidFields(api.FieldError{Field: key, Detail: detail})
}

var clusterItem = regexp.MustCompile(`^item (\d+) \("[^"]*"\): ([a-z_]+)`)

// problemFields names the page field of each configuration problem: the
// key itself, or for a cluster's problem "item N (name): KEY ..." the
// field clustersKey.N-1.KEY when KEY is one of the page's.
func problemFields(ps config.Problems) []api.FieldError {
	out := make([]api.FieldError, 0, len(ps))
	for _, p := range ps {
		field := p.Key
		if m := clusterItem.FindStringSubmatch(p.Message); p.Key == clustersKey && m != nil {
			n, _ := strconv.Atoi(m[1])
			field = fmt.Sprintf("%s.%d", clustersKey, n-1)
			if slices.ContainsFunc(clusterFields, func(f fieldSpec) bool { return f.key == m[2] }) {
				field += "." + m[2]
			}
		}
		out = append(out, api.FieldError{Field: field, Detail: p.Message})
	}
	return out
}

// Test implements admin.BackendView.
func (p *backendPage) Test(ctx context.Context, values map[string]string) ([]probe.Step, error) {
	c, err := p.check(ctx, values)
	if err != nil {
		return nil, err
	}
	return probeConfig(ctx, c.cfg), nil
}

// errCannotRestart answers Save and Reset of a gateway that no
// supervisor runs (tests).
var errCannotRestart = api.NewProblem(501, api.CodeNotImplemented, "this gateway cannot restart its backend (it is not run by presenced serve)")

// generation returns the number of the running generation.
func (p *backendPage) generation() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen
}

// Save implements admin.BackendView.
func (p *backendPage) Save(ctx context.Context, actor string, values map[string]string) (admin.SaveResult, error) {
	if p.apply == nil {
		return admin.SaveResult{}, errCannotRestart
	}
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	c, err := p.check(ctx, values)
	if err != nil {
		return admin.SaveResult{}, err
	}
	if len(c.after) == 0 {
		return admin.SaveResult{Generation: p.generation()}, nil
	}
	if err := p.saved.Put(ctx, store.SavedConfig{Values: c.saved, UpdatedAt: p.clk.Now(), UpdatedBy: actor}); err != nil {
		return admin.SaveResult{}, fmt.Errorf("save backend settings: %w", err)
	}
	return admin.SaveResult{Generation: p.start(c.cfg, c.prev), Before: c.before, After: c.after}, nil
}

// Reset implements admin.BackendView.
func (p *backendPage) Reset(ctx context.Context, actor string) (admin.SaveResult, error) {
	if p.apply == nil {
		return admin.SaveResult{}, errCannotRestart
	}
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	sc, err := p.savedValues(ctx)
	if err != nil {
		return admin.SaveResult{}, err
	}
	if len(sc.Values) == 0 {
		return admin.SaveResult{Generation: p.generation()}, nil
	}
	cfg, err := p.load(nil)
	if err != nil {
		return admin.SaveResult{}, fmt.Errorf("load the configuration without the saved values: %w", err)
	}
	before, after := map[string]string{}, map[string]string{}
	for key, v := range sc.Values {
		before[key], after[key] = savedText(key, v), "(configuration file)"
	}
	if err := p.saved.Put(ctx, store.SavedConfig{Values: map[string]any{}, UpdatedAt: p.clk.Now(), UpdatedBy: actor}); err != nil {
		return admin.SaveResult{}, fmt.Errorf("forget the saved backend settings: %w", err)
	}
	return admin.SaveResult{Generation: p.start(cfg, sc), Before: before, After: after}, nil
}

// start has cfg applied by a new generation and returns its number;
// prev is what was saved before.
func (p *backendPage) start(cfg config.Config, prev store.SavedConfig) int64 {
	p.mu.Lock()
	p.applyErr = ""
	p.mu.Unlock()
	gen := p.apply(cfg, prev) // not under mu: the supervisor calls running
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = max(p.pending, gen)
	return gen
}

// savedText shows a saved value in the audit log, secrets (and the
// clusters, which hold them) masked.
func savedText(key string, v any) string {
	if key == clustersKey || config.IsSecret(key) {
		return "(set)"
	}
	return formValue(v)
}

// probeConfig runs the real checks of cfg's backend and directory.
func probeConfig(ctx context.Context, cfg config.Config) []probe.Step {
	var steps []probe.Step
	switch cfg.Backend.Kind {
	case config.BackendSIP:
		steps = probe.SIP(ctx, cfg.Backend.SIP, endpointIDs(cfg)[0]).Steps
	case config.BackendXMPP:
		for _, c := range cfg.Backend.XMPP.Clusters {
			for _, st := range probe.XMPP(ctx, c).Steps {
				st.Name = c.Name + ": " + st.Name
				steps = append(steps, st)
			}
		}
	default:
		steps = []probe.Step{{Name: "native backend", OK: true, Detail: "presenced holds presence itself: nothing to reach"}}
	}
	if cfg.Directory.Kind == config.DirectoryLDAP {
		for _, st := range probe.LDAP(ctx, cfg.Directory.LDAP).Steps {
			st.Name = "directory: " + st.Name
			steps = append(steps, st)
		}
	}
	return steps
}
