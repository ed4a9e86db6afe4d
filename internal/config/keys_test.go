package config

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestKeyPaths(t *testing.T) {
	paths := KeyPaths()
	if !slices.IsSorted(paths) {
		t.Errorf("KeyPaths() is not sorted: %v", paths)
	}
	// The public contract of API.md §2 must stay.
	for _, want := range []string{
		"listen", "admin_listen", "data_dir",
		"presence.subscription_ttl", "presence.max_contacts_per_request", "presence.coalesce_interval",
		"allowlist.enabled", "allowlist.domains",
		"backend.kind", "backend.endpoints", "backend.max_subscriptions_per_endpoint",
		"push.webhook_url", "push.secret", "tls.cert_file", "tls.key_file",
		"auth.oidc.issuer", "auth.oidc.audience", "auth.oidc.email_claim",
	} {
		if !slices.Contains(paths, want) {
			t.Errorf("KeyPaths() lacks %q", want)
		}
	}
}

func TestEnvName(t *testing.T) {
	tests := map[string]string{
		"listen":                    "PRESENCED_LISTEN",
		"presence.subscription_ttl": "PRESENCED_PRESENCE_SUBSCRIPTION_TTL",
		"auth.oidc.email_claim":     "PRESENCED_AUTH_OIDC_EMAIL_CLAIM",
		"a-b.c":                     "PRESENCED_A_B_C",
	}
	for path, want := range tests {
		if got := EnvName(path); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", path, got, want)
		}
	}
}

// sampleValue returns a raw value for a key of kind k, and what it decodes to.
func sampleValue(k kind) (raw string, want any) {
	switch k {
	case kindBool:
		return "true", true
	case kindInt:
		return "7", 7
	case kindFloat:
		return "7.5", 7.5
	case kindDuration:
		return "7", 7 * time.Second
	case kindList:
		return "x;y", []string{"x", "y"}
	default:
		return "sample", "sample"
	}
}

// TestEveryKeyRoundTrips sets every key through its environment variable
// and through a flag, and checks that exactly that field changed.
func TestEveryKeyRoundTrips(t *testing.T) {
	seen := map[string]string{}
	for _, l := range keys().leaves {
		if l.kind == kindTables {
			continue // only a config file sets them (TestXMPPClusters)
		}
		env := EnvName(l.path)
		if other, dup := seen[env]; dup {
			t.Errorf("keys %s and %s share environment name %s", other, l.path, env)
		}
		seen[env] = l.path
		if back := keys().byEnv[env].path; back != l.path {
			t.Errorf("environment name %s maps back to %q, want %q", env, back, l.path)
		}

		raw, want := sampleValue(l.kind)
		for name, src := range map[string]Source{
			"env":  {Env: []string{env + "=" + raw}},
			"flag": {Flags: map[string]string{l.path: raw}},
		} {
			got, err := Load(src)
			for _, p := range problemsOfErr(err) {
				if strings.HasPrefix(p.Message, "unknown key") || strings.HasPrefix(p.Message, "invalid") {
					t.Errorf("%s %s: %v", name, l.path, p)
				}
			}
			if diff := cmp.Diff(want, normalized(l.field(&got).Interface())); diff != "" {
				t.Errorf("%s %s: value (-want +got):\n%s", name, l.path, diff)
			}
			// Nothing else changed.
			def := Default()
			l.field(&def).Set(l.field(&got))
			if diff := cmp.Diff(def, got); diff != "" {
				t.Errorf("%s %s: other fields changed (-want +got):\n%s", name, l.path, diff)
			}
		}
	}
}

// normalized makes int64 fields compare equal to the int sample.
func normalized(v any) any {
	if n, ok := v.(int64); ok {
		return int(n)
	}
	return v
}

func problemsOfErr(err error) Problems {
	if err == nil {
		return nil
	}
	return *err.(*Problems)
}
