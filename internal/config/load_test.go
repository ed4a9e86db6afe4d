package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/config"
)

// writeConfig writes a YAML config file into a fresh temporary directory.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "presenced.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// problemsOf returns the problems in a Load error (nil for a nil error).
func problemsOf(t *testing.T, err error) config.Problems {
	t.Helper()
	if err == nil {
		return nil
	}
	var ps *config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load error is %T, want *config.Problems: %v", err, err)
	}
	return *ps
}

func TestLoadDefaults(t *testing.T) {
	got, err := config.Load(config.Source{})
	if err != nil {
		t.Fatalf("Load with no sources: %v", err)
	}
	if diff := cmp.Diff(config.Default(), got); diff != "" {
		t.Errorf("Load with no sources differs from Default() (-want +got):\n%s", diff)
	}
	if ps := config.Default().Validate(); ps != nil {
		t.Errorf("Default().Validate() = %v, want nil", ps)
	}
}

func TestLoadLayers(t *testing.T) {
	const file = `
listen: ":7000"
data_dir: /var/lib/presenced
presence:
  subscription_ttl: 5m
  max_contacts_per_request: 500
allowlist:
  enabled: true
  domains: [Example.com, b.org]
backend:
  endpoints:
    - ep1@example.com
    - ep2@example.com
`
	tests := []struct {
		name  string
		file  string // YAML content; "" = no file
		env   []string
		flags map[string]string
		saved map[string]any
		want  func(*config.Config)
	}{
		{
			name:  "saved values override the file, env overrides them",
			file:  file,
			env:   []string{"PRESENCED_BACKEND_MAX_SUBSCRIPTIONS_PER_ENDPOINT=7"},
			saved: map[string]any{"backend.endpoints": []any{"saved@example.com"}, "backend.max_subscriptions_per_endpoint": float64(300), "listen": ":7001"},
			want: func(c *config.Config) {
				c.Listen = ":7001"
				c.DataDir = "/var/lib/presenced"
				c.Presence.SubscriptionTTL = 5 * time.Minute
				c.Presence.MaxContactsPerRequest = 500
				c.Allowlist = config.AllowlistConfig{Enabled: true, Domains: []string{"b.org", "example.com"}}
				c.Backend.Endpoints = []string{"saved@example.com"}
				c.Backend.MaxSubscriptionsPerEndpoint = 7
			},
		},
		{
			name: "saved list of mappings",
			saved: map[string]any{"backend.xmpp.clusters": []any{map[string]any{
				"name": "main", "server": "x.example.com:5275", "domains": []any{"example.com"}, "component_endpoints": float64(3),
			}}},
			want: func(c *config.Config) {
				c.Backend.XMPP.Clusters = []config.XMPPCluster{{Name: "main", Server: "x.example.com:5275", Domains: []string{"example.com"}, ComponentEndpoints: 3}}
			},
		},
		{
			name: "file overrides defaults",
			file: file,
			want: func(c *config.Config) {
				c.Listen = ":7000"
				c.DataDir = "/var/lib/presenced"
				c.Presence.SubscriptionTTL = 5 * time.Minute
				c.Presence.MaxContactsPerRequest = 500
				c.Allowlist = config.AllowlistConfig{Enabled: true, Domains: []string{"b.org", "example.com"}}
				c.Backend.Endpoints = []string{"ep1@example.com", "ep2@example.com"}
			},
		},
		{
			name: "env overrides file",
			file: file,
			env: []string{
				"PRESENCED_LISTEN=:7100",
				"PRESENCED_PRESENCE_SUBSCRIPTION_TTL=300",
				"PRESENCED_ALLOWLIST_ENABLED=false",
				"PRESENCED_AUTH_RATE_LIMIT_REQUESTS_PER_SECOND=2.5",
			},
			want: func(c *config.Config) {
				c.Listen = ":7100"
				c.DataDir = "/var/lib/presenced"
				c.Presence.SubscriptionTTL = 300 * time.Second
				c.Presence.MaxContactsPerRequest = 500
				c.Allowlist = config.AllowlistConfig{Enabled: false, Domains: []string{"b.org", "example.com"}}
				c.Backend.Endpoints = []string{"ep1@example.com", "ep2@example.com"}
				c.Auth.RateLimit.RequestsPerSecond = 2.5
			},
		},
		{
			name:  "flags override env",
			file:  file,
			env:   []string{"PRESENCED_LISTEN=:7100", "PRESENCED_DATA_DIR=/env"},
			flags: map[string]string{"listen": ":7200", "presence.max_contacts_per_request": "42"},
			want: func(c *config.Config) {
				c.Listen = ":7200"
				c.DataDir = "/env"
				c.Presence.SubscriptionTTL = 5 * time.Minute
				c.Presence.MaxContactsPerRequest = 42
				c.Allowlist = config.AllowlistConfig{Enabled: true, Domains: []string{"b.org", "example.com"}}
				c.Backend.Endpoints = []string{"ep1@example.com", "ep2@example.com"}
			},
		},
		{
			name: "bare integer seconds in YAML",
			file: "presence:\n  subscription_ttl: 180\n  coalesce_interval: 0\n  watch_linger: \"90\"\npush:\n  timeout: 2\n",
			want: func(c *config.Config) {
				c.Presence.SubscriptionTTL = 180 * time.Second
				c.Presence.CoalesceInterval = 0
				c.Presence.WatchLinger = 90 * time.Second
				c.Push.Timeout = 2 * time.Second
			},
		},
		{
			name: "bare integer seconds and Go durations from env and flags",
			env:  []string{"PRESENCED_STREAM_PING_INTERVAL=45", "PRESENCED_HTTP_SHUTDOWN_TIMEOUT=1m30s"},
			flags: map[string]string{
				"presence.subscription_ttl": "600",
				"push.timeout":              "250ms",
			},
			want: func(c *config.Config) {
				c.Stream.PingInterval = 45 * time.Second
				c.HTTP.ShutdownTimeout = 90 * time.Second
				c.Presence.SubscriptionTTL = 600 * time.Second
				c.Push.Timeout = 250 * time.Millisecond
			},
		},
		{
			name: "lists split from env on commas, semicolons, spaces and new lines",
			env: []string{
				"PRESENCED_ALLOWLIST_DOMAINS=b.com; A.com,c.com\nd.com  a.com\t;",
				"PRESENCED_BACKEND_ENDPOINTS=ep1,ep2;ep3",
			},
			want: func(c *config.Config) {
				c.Allowlist.Domains = []string{"a.com", "b.com", "c.com", "d.com"}
				c.Backend.Endpoints = []string{"ep1", "ep2", "ep3"}
			},
		},
		{
			name:  "lists split from flags",
			flags: map[string]string{"backend.endpoints": "x y", "allowlist.domains": "z.com"},
			want: func(c *config.Config) {
				c.Backend.Endpoints = []string{"x", "y"}
				c.Allowlist.Domains = []string{"z.com"}
			},
		},
		{
			name:  "empty env value clears a list set by the file",
			file:  file,
			env:   []string{"PRESENCED_BACKEND_ENDPOINTS="},
			flags: map[string]string{"allowlist.domains": ""},
			want: func(c *config.Config) {
				c.Listen = ":7000"
				c.DataDir = "/var/lib/presenced"
				c.Presence.SubscriptionTTL = 5 * time.Minute
				c.Presence.MaxContactsPerRequest = 500
				c.Allowlist = config.AllowlistConfig{Enabled: true}
			},
		},
		{
			name: "YAML null and empty sections keep defaults",
			file: "listen:\npresence: {}\nauth:\n  oidc:\n",
			want: func(*config.Config) {},
		},
		{
			name: "YAML scalars for strings, quoted numbers for integers",
			file: "push:\n  webhook_url: https://relay.example.com/hook\n  secret: 12345\n  max_attempts: \"3\"\nhttp:\n  max_body_bytes: 2e6\n",
			want: func(c *config.Config) {
				c.Push.WebhookURL = "https://relay.example.com/hook"
				c.Push.Secret = "12345"
				c.Push.MaxAttempts = 3
				c.HTTP.MaxBodyBytes = 2000000
			},
		},
		{
			name: "other variables and PRESENCED_CONFIG are ignored",
			env:  []string{"HOME=/root", "PRESENCED_CONFIG=/etc/presenced.yaml", "presenced_listen=:1", "NOEQUALS", "PRESENCED_DATA_DIR=/a", "PRESENCED_DATA_DIR=/b"},
			want: func(c *config.Config) { c.DataDir = "/b" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{Env: tt.env, Flags: tt.flags, Saved: tt.saved}
			if tt.file != "" {
				src.File = writeConfig(t, tt.file)
			}
			got, err := config.Load(src)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := config.Default()
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Load (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		env   []string
		flags map[string]string
		want  config.Problems
	}{
		{
			name: "nested unknown key in the file",
			file: "presence:\n  foo: 1\n",
			want: config.Problems{{Key: "presence.foo", Message: "unknown key"}},
		},
		{
			name: "top-level typo in the file",
			file: "listne: \":9000\"\n",
			want: config.Problems{{Key: "listne", Message: "unknown key (did you mean listen?)"}},
		},
		{
			name: "key in the wrong section",
			file: "subscription_ttl: 60s\n",
			want: config.Problems{{Key: "subscription_ttl", Message: "unknown key (did you mean presence.subscription_ttl?)"}},
		},
		{
			name: "unknown environment variables",
			env:  []string{"PRESENCED_PRESENCE_FOO=1", "PRESENCED_LISTN=:1"},
			want: config.Problems{
				{Key: "PRESENCED_LISTN", Message: "unknown key: no setting has this environment variable (did you mean PRESENCED_LISTEN?)"},
				{Key: "PRESENCED_PRESENCE_FOO", Message: "unknown key: no setting has this environment variable"},
			},
		},
		{
			name:  "unknown flags, including a section",
			flags: map[string]string{"presence.foo": "1", "presence": "x"},
			want: config.Problems{
				{Key: "presence", Message: "unknown key"},
				{Key: "presence.foo", Message: "unknown key"},
			},
		},
		{
			name: "type errors from the file",
			file: "presence:\n  subscription_ttl: abc\n  max_contacts_per_request: 1.5\n  coalesce_interval: [1]\nallowlist:\n  enabled: 1\n",
			want: config.Problems{
				{Key: "allowlist.enabled", Message: "invalid boolean 1"},
				{Key: "presence.coalesce_interval", Message: "expected a duration, got a list"},
				{Key: "presence.max_contacts_per_request", Message: "invalid integer 1.5"},
				{Key: "presence.subscription_ttl", Message: `invalid duration "abc"`},
			},
		},
		{
			name:  "type errors say which variable or flag",
			env:   []string{"PRESENCED_PRESENCE_SUBSCRIPTION_TTL=abc"},
			flags: map[string]string{"stream.queue_size": "many"},
			want: config.Problems{
				{Key: "presence.subscription_ttl", Message: `invalid duration "abc" (from PRESENCED_PRESENCE_SUBSCRIPTION_TTL)`},
				{Key: "stream.queue_size", Message: `invalid integer "many" (from flag)`},
			},
		},
		{
			name:  "a bad file value is reported even when env overrides it",
			file:  "listen: [a]\n",
			env:   []string{"PRESENCED_LISTEN=:9000"},
			want:  config.Problems{{Key: "listen", Message: "expected a string, got a list"}},
			flags: nil,
		},
		{
			name: "mapping for a scalar key, scalar for a section, mapping in a list",
			file: "listen:\n  host: x\n  port: 1\npresence: 5\nbackend:\n  endpoints: [a, {b: c}]\n",
			want: config.Problems{
				{Key: "backend.endpoints", Message: "list items must be strings, got a mapping"},
				{Key: "listen", Message: "expected a string, got a mapping"},
				{Key: "presence", Message: "expected a mapping of settings, got 5"},
			},
		},
		{
			name: "several problems from every source, sorted by key",
			file: "backend:\n  max_subscriptions_per_endpoint: 6000\npresence:\n  foo: 1\n  subscription_ttl: 5s\n",
			env:  []string{"PRESENCED_PUSH_WEBHOOK_URL=http://relay.example.com/", "PRESENCED_NOPE=1"},
			flags: map[string]string{
				"log.level": "loud",
				"data_dir":  "",
			},
			want: config.Problems{
				{Key: "PRESENCED_NOPE", Message: "unknown key: no setting has this environment variable"},
				{Key: "backend.max_subscriptions_per_endpoint", Message: "must be between 1 and 5000, got 6000"},
				{Key: "data_dir", Message: "must not be empty"},
				{Key: "log.level", Message: `must be one of debug, info, warn, error, got "loud"`},
				{Key: "presence.foo", Message: "unknown key"},
				{Key: "presence.subscription_ttl", Message: "must be between 10s and 24h, got 5s"},
				{Key: "push.secret", Message: "required when push.webhook_url is set"},
				{Key: "push.webhook_url", Message: "must use https unless the host is loopback (127.0.0.0/8, ::1, localhost)"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{Env: tt.env, Flags: tt.flags}
			if tt.file != "" {
				src.File = writeConfig(t, tt.file)
			}
			_, err := config.Load(src)
			if err == nil {
				t.Fatal("Load succeeded, want problems")
			}
			if diff := cmp.Diff(tt.want, problemsOf(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadKeepsBestEffortConfig(t *testing.T) {
	path := writeConfig(t, "listen: \":7000\"\npresence:\n  subscription_ttl: abc\n  bogus: 1\n")
	got, err := config.Load(config.Source{File: path})
	if err == nil {
		t.Fatal("Load succeeded, want problems")
	}
	want := config.Default()
	want.Listen = ":7000" // the good value is kept, the bad one falls back
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("best-effort config (-want +got):\n%s", diff)
	}
}

func TestLoadFileProblems(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		path     string
		contains string
	}{
		{"missing file", filepath.Join(dir, "nope.yaml"), "does not exist"},
		{"directory", dir, "read config file"},
		{"bad YAML", writeConfig(t, "listen: [\n"), "parse config file"},
		{"not a mapping", writeConfig(t, "- a\n- b\n"), "parse config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(config.Source{File: tt.path})
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != "config" || !strings.Contains(ps[0].Message, tt.contains) {
				t.Errorf("problems = %v, want one problem for key config containing %q", ps, tt.contains)
			}
		})
	}
}

func TestProblemsError(t *testing.T) {
	ps := config.Problems{{Key: "a", Message: "first"}, {Key: "b.c", Message: "second"}}
	if got, want := ps.Error(), "a: first\nb.c: second"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}

	_, err := config.Load(config.Source{Flags: map[string]string{"nope": "1"}})
	var byValue config.Problems
	if !errors.As(err, &byValue) {
		t.Fatalf("errors.As(%v, *Problems) = false", err)
	}
	want := config.Problems{{Key: "nope", Message: "unknown key"}}
	if diff := cmp.Diff(want, byValue); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if got := err.Error(); got != "nope: unknown key" {
		t.Errorf("Error() = %q", got)
	}
}

// TestXMPPClusters: backend.xmpp.clusters is a list of mappings that only a
// config file sets; every problem in an item names the item and its key;
// secrets are redacted.
func TestXMPPClusters(t *testing.T) {
	path := writeConfig(t, `backend:
  kind: xmpp
  xmpp:
    clusters:
      - name: main
        domains: [example.com, corp.example.com]
        server: 127.0.0.1:5347
        tls: none
        component: presence.example.com
        secret: s3cret
`)
	got, err := config.Load(config.Source{File: path})
	if err != nil {
		t.Fatal(err)
	}
	want := []config.XMPPCluster{{
		Name: "main", Domains: []string{"example.com", "corp.example.com"}, Server: "127.0.0.1:5347",
		TLS: "none", Component: "presence.example.com", Secret: "s3cret",
	}}
	if diff := cmp.Diff(want, got.Backend.XMPP.Clusters); diff != "" {
		t.Errorf("clusters (-want +got):\n%s", diff)
	}
	red := got.Redacted()["backend.xmpp.clusters"].([]map[string]any)
	if red[0]["secret"] != config.RedactedValue || red[0]["name"] != "main" {
		t.Errorf("Redacted clusters = %v, want the secret redacted and the name kept", red)
	}

	bad := writeConfig(t, `backend:
  xmpp:
    clusters:
      - name: main
        sever: x
        domains: {a: b}
      - plain
`)
	_, err = config.Load(config.Source{File: bad})
	msgs := problemsOf(t, err)
	if len(msgs) != 1 || msgs[0].Key != "backend.xmpp.clusters" {
		t.Fatalf("problems %v, want one for backend.xmpp.clusters", msgs)
	}
	for _, want := range []string{`item 1: domains: expected a list of strings, got a mapping`, `item 1: unknown key "sever" (did you mean server?)`, `item 2: expected a mapping, got "plain"`} {
		if !strings.Contains(msgs[0].Message, want) {
			t.Errorf("problem %q lacks %q", msgs[0].Message, want)
		}
	}

	_, err = config.Load(config.Source{Env: []string{"PRESENCED_BACKEND_XMPP_CLUSTERS=main"}})
	if ps := problemsOf(t, err); len(ps) != 1 || !strings.Contains(ps[0].Message, "set it in the config file") {
		t.Errorf("clusters from the environment: %v, want a problem saying to use the config file", ps)
	}
}

func TestLoadSavedProblems(t *testing.T) {
	_, err := config.Load(config.Source{Saved: map[string]any{"backend.max_subscriptions_per_endpoint": "lots", "backend.nope": "x"}})
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load = %v, want Problems", err)
	}
	var keys []string
	for _, p := range ps {
		keys = append(keys, p.Key)
	}
	if diff := cmp.Diff([]string{"backend.max_subscriptions_per_endpoint", "backend.nope"}, keys); diff != "" {
		t.Fatalf("problem keys (-want +got):\n%s\n%v", diff, ps)
	}
	if !strings.Contains(ps[0].Message, "saved in the dashboard") {
		t.Errorf("problem %q does not say the value was saved in the dashboard", ps[0].Message)
	}
}

func TestOrigins(t *testing.T) {
	src := config.Source{
		File:  writeConfig(t, "listen: \":7000\"\nbackend:\n  sip:\n    server: file.example.com\n    domain: example.com\n"),
		Saved: map[string]any{"backend.sip.server": "saved.example.com", "backend.sip.transport": "tcp"},
		Env:   []string{"PRESENCED_BACKEND_SIP_TRANSPORT=tls", "HOME=/root"},
		Flags: map[string]string{"listen": ":7100"},
	}
	want := map[string]string{
		"listen":                config.OriginFlag,
		"backend.sip.server":    config.OriginSaved,
		"backend.sip.domain":    config.OriginFile,
		"backend.sip.transport": "PRESENCED_BACKEND_SIP_TRANSPORT",
	}
	if diff := cmp.Diff(want, config.Origins(src)); diff != "" {
		t.Errorf("Origins (-want +got):\n%s", diff)
	}
}
