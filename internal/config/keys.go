package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// EnvPrefix starts every environment variable that sets a key.
const EnvPrefix = "PRESENCED_"

// EnvConfigFile is the environment variable naming the config file. main
// reads it; Load ignores it.
const EnvConfigFile = EnvPrefix + "CONFIG"

// EnvAdminPassword gives `presenced admin account create` the new
// account's password; Load ignores it.
const EnvAdminPassword = EnvPrefix + "ADMIN_PASSWORD"

// kind is how a key's value is decoded.
type kind int

const (
	kindString kind = iota
	kindBool
	kindInt
	kindFloat
	kindDuration
	kindList
	// kindTables is a list of mappings decoded into a slice of structs
	// whose fields are scalars or lists (e.g. backend.xmpp.clusters);
	// only a config file can set it.
	kindTables
)

// String names the kind as messages say it ("expected a duration").
func (k kind) String() string {
	switch k {
	case kindBool:
		return "boolean"
	case kindInt:
		return "integer"
	case kindFloat:
		return "number"
	case kindDuration:
		return "duration"
	case kindList:
		return "list of strings"
	case kindTables:
		return "list of mappings"
	default:
		return "string"
	}
}

// leaf is one settable key: a field of Config reached by index.
type leaf struct {
	path  string
	env   string
	index []int
	kind  kind
}

// field returns the leaf's field in the Config that c points to.
func (l leaf) field(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(l.index)
}

// registry is every key of Config, derived once from the koanf tags.
type registry struct {
	leaves   []leaf          // sorted by path
	byPath   map[string]leaf // path -> leaf
	byEnv    map[string]leaf // environment name -> leaf
	sections map[string]bool // paths of nested structs, e.g. "auth.oidc"
}

var keys = sync.OnceValue(func() *registry {
	r := &registry{
		byPath:   map[string]leaf{},
		byEnv:    map[string]leaf{},
		sections: map[string]bool{},
	}
	r.walk(reflect.TypeFor[Config](), "", nil)
	slices.SortFunc(r.leaves, func(a, b leaf) int { return strings.Compare(a.path, b.path) })
	for _, l := range r.leaves {
		if other, dup := r.byEnv[l.env]; dup {
			panic(fmt.Sprintf("config: keys %s and %s share environment name %s", other.path, l.path, l.env))
		}
		r.byPath[l.path] = l
		r.byEnv[l.env] = l
	}
	return r
})

var durationType = reflect.TypeFor[time.Duration]()

// walk records the leaves and sections of struct type t under prefix.
// Unsupported field types are programming errors and panic at first use.
func (r *registry) walk(t reflect.Type, prefix string, index []int) {
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("koanf")
		if name == "" {
			panic(fmt.Sprintf("config: field %s.%s has no koanf tag", t.Name(), f.Name))
		}
		path := prefix + name
		idx := append(slices.Clone(index), i)
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
			checkTable(f.Type.Elem())
			r.leaves = append(r.leaves, leaf{path: path, env: EnvName(path), index: idx, kind: kindTables})
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			r.sections[path] = true
			r.walk(f.Type, path+".", idx)
			continue
		}
		r.leaves = append(r.leaves, leaf{path: path, env: EnvName(path), index: idx, kind: kindOf(f.Type)})
	}
}

// checkTable panics unless every field of a table's struct t has a koanf
// tag and a scalar or list type.
func checkTable(t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("koanf") == "" {
			panic(fmt.Sprintf("config: field %s.%s has no koanf tag", t.Name(), f.Name))
		}
		if k := kindOf(f.Type); k == kindTables {
			panic(fmt.Sprintf("config: table %s nests a table in %s", t.Name(), f.Name))
		}
	}
}

func kindOf(t reflect.Type) kind {
	switch {
	case t == durationType:
		return kindDuration
	case t.Kind() == reflect.String:
		return kindString
	case t.Kind() == reflect.Bool:
		return kindBool
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64:
		return kindInt
	case t.Kind() == reflect.Float64:
		return kindFloat
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return kindList
	}
	panic(fmt.Sprintf("config: unsupported field type %s", t))
}

// KeyPaths returns every settable key path, sorted, e.g.
// "presence.subscription_ttl".
func KeyPaths() []string {
	r := keys()
	out := make([]string, len(r.leaves))
	for i, l := range r.leaves {
		out[i] = l.path
	}
	return out
}

var envReplacer = strings.NewReplacer(".", "_", "-", "_")

// EnvName returns the environment variable that sets key path: EnvPrefix
// and the path upper-cased with "." and "-" turned into "_" (API.md §1),
// e.g. PRESENCED_PRESENCE_SUBSCRIPTION_TTL.
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(envReplacer.Replace(path))
}

// suggest returns a known name close to an unknown one (a likely typo, or
// a key placed in the wrong section), or "".
func suggest(unknown string, known []string) string {
	best, bestDist := "", 3 // suggest only within two edits
	for _, k := range known {
		if abs(len(k)-len(unknown)) >= bestDist {
			continue // cannot be close enough; keeps huge inputs cheap
		}
		if d := editDistance(unknown, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return best
	}
	// The right name in the wrong section, when only one key has it.
	var same []string
	for _, k := range known {
		if lastSegment(k) == lastSegment(unknown) {
			same = append(same, k)
		}
	}
	if len(same) == 1 {
		return same[0]
	}
	return ""
}

func lastSegment(path string) string { return path[strings.LastIndexByte(path, '.')+1:] }

func abs(n int) int { return max(n, -n) }

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
