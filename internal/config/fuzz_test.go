package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/presenced/presenced/internal/config"
)

// FuzzLoad feeds arbitrary YAML and one arbitrary environment entry to Load.
// It must never panic, and its error must be a non-empty, well-formed
// *Problems exactly when the result does not validate.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(""), "")
	f.Add([]byte("listen: \":9000\"\npresence:\n  subscription_ttl: 180\n"), "PRESENCED_LISTEN=:9001")
	f.Add([]byte("presence: {foo: 1, subscription_ttl: abc}\nallowlist: {domains: [A.com, 'b..c']}\n"), "PRESENCED_ALLOWLIST_DOMAINS=a.com;b.com")
	f.Add([]byte("listen: {a: [1, {b: 2}]}\n? [x, y]\n: z\n"), "PRESENCED_NOPE=1")
	f.Add([]byte("a: &x [*x]\nb: !!binary aGVsbG8=\nc: 2001-12-14t21:59:43.10-05:00\n"), "PRESENCED_PRESENCE_SUBSCRIPTION_TTL=99999999999999999999")
	f.Add([]byte("http:\n  max_body_bytes: 1e400\nauth:\n  rate_limit:\n    requests_per_second: .nan\n"), "PRESENCED_CONFIG=x")
	f.Fuzz(func(t *testing.T, yaml []byte, env string) {
		path := filepath.Join(t.TempDir(), "presenced.yaml")
		if err := os.WriteFile(path, yaml, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(config.Source{File: path, Env: []string{env}})
		if err == nil {
			if ps := cfg.Validate(); ps != nil {
				t.Fatalf("Load succeeded but Validate reports %v", ps)
			}
			return
		}
		var ps *config.Problems
		if !errors.As(err, &ps) || len(*ps) == 0 {
			t.Fatalf("Load error %T %v is not a non-empty *Problems", err, err)
		}
		for _, p := range *ps {
			if p.Key == "" || p.Message == "" {
				t.Fatalf("malformed problem %+v", p)
			}
		}
	})
}
