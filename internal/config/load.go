package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// Source says where Load reads configuration from, besides the defaults.
type Source struct {
	// File is the YAML config file; "" means none. A file named here that
	// does not exist is a problem (key "config").
	File string
	// Env holds "KEY=VALUE" pairs, normally os.Environ(). Only PRESENCED_*
	// variables are considered, except EnvConfigFile; a later duplicate
	// wins.
	Env []string
	// Flags maps key paths to raw values, e.g. {"listen": ":9000"}. main
	// builds it from the flags the user actually set.
	Flags map[string]string
	// Saved holds the values saved in the dashboard (the store's
	// SavedConfig), by key path, as JSON decodes them. They override the
	// file and are overridden by the environment and flags.
	Saved map[string]any
}

// Origin names where a key's value came from: OriginFile, OriginSaved,
// OriginFlag, or the environment variable's name. Keys left at their
// defaults have none.
const (
	OriginFile  = "file"
	OriginSaved = "dashboard"
	OriginFlag  = "flag"
)

// Origins returns, for every key path src sets, the layer that sets it
// last (see Origin). It reads the file again; an unreadable file sets
// nothing.
func Origins(src Source) map[string]string {
	out := map[string]string{}
	if src.File != "" {
		values, _ := readFile(src.File)
		for path := range values {
			out[path] = OriginFile
		}
	}
	for path := range src.Saved {
		out[path] = OriginSaved
	}
	_, envFrom, _ := envValues(src.Env)
	for path, name := range envFrom {
		out[path] = name
	}
	for path := range src.Flags {
		out[path] = OriginFlag
	}
	return out
}

// Load builds the configuration in layers, each overriding the one before:
// Default(), the YAML file, the values saved in the dashboard, PRESENCED_*
// environment variables, Flags. Then
// it normalises allowlist.domains (lower-cased, de-duplicated, sorted) and
// validates.
//
// Each layer is decoded onto the typed Config by itself, so a bad value is
// reported with the layer it came from even when a later layer overrides
// it, and a value that fails to decode leaves the previous layer's value in
// place. A null YAML value also leaves it in place.
//
// The error, when not nil, is a *Problems listing every problem, sorted by
// key: unknown keys, type errors, an unreadable file, and what Validate
// finds. The returned Config is then a best effort.
func Load(src Source) (Config, error) {
	cfg := Default()
	var ps Problems
	if src.File != "" {
		values, err := readFile(src.File)
		if err != nil {
			ps = append(ps, Problem{Key: "config", Message: err.Error()})
		}
		ps = append(ps, apply(&cfg, values, func(string) string { return "" })...)
	}
	ps = append(ps, apply(&cfg, src.Saved, func(string) string { return " (saved in the dashboard)" })...)

	env, envFrom, envProblems := envValues(src.Env)
	ps = append(ps, envProblems...)
	ps = append(ps, apply(&cfg, env, func(path string) string { return " (from " + envFrom[path] + ")" })...)

	flags, flagProblems := flagValues(src.Flags)
	ps = append(ps, flagProblems...)
	ps = append(ps, apply(&cfg, flags, func(string) string { return " (from flag)" })...)

	cfg.Allowlist.Domains = normalizeDomains(cfg.Allowlist.Domains)
	ps = append(ps, cfg.Validate()...)
	if ps = ps.sorted(); ps != nil {
		return cfg, &ps
	}
	return cfg, nil
}

// readFile parses the YAML file at path into flattened key paths.
func readFile(path string) (map[string]any, error) {
	k := koanf.New(".")
	err := k.Load(file.Provider(path), yaml.Parser())
	var pathErr *fs.PathError
	switch {
	case err == nil:
		return k.All(), nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("config file %q does not exist", path)
	case errors.As(err, &pathErr):
		return nil, fmt.Errorf("read config file: %w", err)
	default:
		return nil, fmt.Errorf("parse config file %q: %w", path, err)
	}
}

// envValues picks the PRESENCED_* variables out of env. It returns the
// values by key path, the variable each came from, and a problem for each
// variable that names no key.
func envValues(env []string) (values map[string]any, from map[string]string, ps Problems) {
	r := keys()
	values, from = map[string]any{}, map[string]string{}
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || name == EnvConfigFile || name == EnvAdminPassword {
			continue
		}
		l, known := r.byEnv[name]
		if !known {
			ps.add(name, "unknown key: no setting has this environment variable%s", didYouMean(name, slices.Sorted(maps.Keys(r.byEnv))))
			continue
		}
		values[l.path], from[l.path] = value, name
	}
	return values, from, ps
}

// flagValues checks that every flag names a key.
func flagValues(flags map[string]string) (map[string]any, Problems) {
	r := keys()
	values := map[string]any{}
	var ps Problems
	for path, value := range flags {
		if _, known := r.byPath[path]; !known {
			ps.add(path, "unknown key%s", didYouMean(path, KeyPaths()))
			continue
		}
		values[path] = value
	}
	return values, ps
}

// apply decodes flattened values onto c. origin(path) is appended to type
// error messages to say where the value came from.
func apply(c *Config, values map[string]any, origin func(path string) string) Problems {
	r := keys()
	var ps Problems
	reported := map[string]bool{} // leaves given a mapping, reported once
	for _, path := range slices.Sorted(maps.Keys(values)) {
		raw := values[path]
		if l, ok := r.byPath[path]; ok {
			if raw == nil {
				continue // YAML null: keep the previous layer's value
			}
			if err := l.set(c, raw); err != nil {
				ps.add(path, "%v%s", err, origin(path))
			}
			continue
		}
		if r.sections[path] {
			// koanf flattens an empty or null section to its own path.
			if m, isMap := raw.(map[string]any); raw != nil && (!isMap || len(m) > 0) {
				ps.add(path, "expected a mapping of settings, got %s", describe(raw))
			}
			continue
		}
		if l, ok := r.leafAbove(path); ok {
			if !reported[l.path] {
				reported[l.path] = true
				ps.add(l.path, "expected %s, got a mapping", withArticle(l.kind))
			}
			continue
		}
		ps.add(path, "unknown key%s", didYouMean(path, KeyPaths()))
	}
	return ps
}

// leafAbove returns the leaf whose path is a proper prefix of path, as when
// a YAML file gives a mapping to a scalar key.
func (r *registry) leafAbove(path string) (leaf, bool) {
	for i := range len(path) {
		if path[i] == '.' {
			if l, ok := r.byPath[path[:i]]; ok {
				return l, true
			}
		}
	}
	return leaf{}, false
}

func withArticle(k kind) string {
	if k == kindInt {
		return "an " + k.String()
	}
	return "a " + k.String()
}

func didYouMean(unknown string, known []string) string {
	if s := suggest(unknown, known); s != "" {
		return fmt.Sprintf(" (did you mean %s?)", s)
	}
	return ""
}

// normalizeDomains lower-cases and trims domains, removes duplicates and
// sorts them. Invalid entries are kept for Validate to report.
func normalizeDomains(domains []string) []string {
	if len(domains) == 0 {
		return nil
	}
	out := make([]string, len(domains))
	for i, d := range domains {
		out[i] = strings.ToLower(strings.TrimSpace(d))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Overlay returns c with values (by key path, as Source.Saved holds
// them) applied on top, normalised and validated like Load's result. It
// serves a configuration that was not loaded from a Source (tests).
func Overlay(c Config, values map[string]any) (Config, error) {
	ps := apply(&c, values, func(string) string { return " (saved in the dashboard)" })
	c.Allowlist.Domains = normalizeDomains(c.Allowlist.Domains)
	ps = append(ps, c.Validate()...)
	if ps = ps.sorted(); ps != nil {
		return c, &ps
	}
	return c, nil
}
