package slapdtest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"embed"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
)

//go:embed testdata/*.tmpl testdata/ad-schema.ldif
var testdata embed.FS

// tmpl holds the cn=config, base entry and rootDSE templates.
var tmpl = template.Must(template.New("").
	Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 }}).
	ParseFS(testdata, "testdata/*.tmpl"))

// installHint names the Debian packages Start needs.
const installHint = "apt-get install slapd ldap-utils"

// Where Debian's slapd package keeps its modules and schema files.
const (
	moduleDir = "/usr/lib/ldap"
	schemaDir = "/etc/ldap/schema"
)

// tools are the OpenLDAP programs the harness runs, by name.
var tools = []string{"slapd", "slapadd", "ldapadd", "ldapmodify"}

// binDirs are searched for the tools when they are not on PATH (slapd and
// slapadd live in /usr/sbin, which a test's PATH may lack).
var binDirs = []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"}

// findTools locates every program in tools, by name.
func findTools() (map[string]string, error) {
	found := make(map[string]string, len(tools))
	for _, name := range tools {
		p, err := lookPath(name)
		if err != nil {
			return nil, err
		}
		found[name] = p
	}
	if _, err := os.Stat(filepath.Join(moduleDir, "back_mdb.so")); err != nil {
		return nil, fmt.Errorf("slapdtest: back_mdb module missing (%s): %w", installHint, err)
	}
	return found, nil
}

// lookPath finds name on PATH or in binDirs.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range binDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("slapdtest: %s not found on PATH or in %v (%s)", name, binDirs, installHint)
}

// database is one back-mdb database of the cn=config template.
type database struct {
	Dir, Suffix string
	Root        bool // the forest root; false for the child domain
}

// configData is what slapd.ldif.tmpl sees.
type configData struct {
	Dir, CertFile, KeyFile, LogLevel, RootDSEFile string
	ModuleDir, SchemaDir, ADSchemaFile            string
	SizeLimit                                     string // a number or "unlimited"
	GlobalCatalog                                 bool
	RootBase, RootDN, RootPWHash, BindDN          string
	ConfigRootDN                                  string
	// Databases lists the child domain first: a glued subordinate must
	// precede its superior.
	Databases []database
}

// baseData is what base.ldif.tmpl sees.
type baseData struct {
	Base, DC                   string
	Root                       bool
	BindDN, BindCN, BindPWHash string
}

// rootDSEData is what rootdse.ldif.tmpl sees.
type rootDSEData struct {
	DefaultNC, RootBase string
	GlobalCatalog       bool
}

// render executes the template name with d.
func render(name string, d any) ([]byte, error) {
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, name, d); err != nil {
		return nil, fmt.Errorf("slapdtest: render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// renderFile executes the template name with d into path.
func renderFile(path, name string, d any) error {
	data, err := render(name, d)
	if err != nil {
		return err
	}
	return writeFile(path, data, 0o644)
}

// writeFile writes data to path with a wrapped error.
func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("slapdtest: write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// ssha returns the RFC 2307 {SSHA} hash of password with a random salt, the
// form slapd checks simple binds against.
func ssha(password string) string {
	salt := make([]byte, 8)
	rand.Read(salt) // never fails (crypto/rand)
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// randomSecret returns 24 random letters and digits.
func randomSecret() string {
	b := make([]byte, 18)
	rand.Read(b) // never fails (crypto/rand)
	return strings.NewReplacer("+", "x", "/", "y").Replace(base64.StdEncoding.EncodeToString(b))
}

// DomainDN returns the naming context of the DNS domain fqdn in the form
// slapd returns it: "emea.example.com" -> "dc=emea,dc=example,dc=com".
func DomainDN(fqdn string) string {
	labels := strings.Split(strings.Trim(fqdn, "."), ".")
	for i, l := range labels {
		labels[i] = "dc=" + escapeDNValue(strings.ToLower(l))
	}
	return strings.Join(labels, ",")
}
