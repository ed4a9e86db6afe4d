package ejabberdtest

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
)

//go:embed testdata/ejabberd.yml.tmpl
var templates embed.FS

// tmpl is the ejabberd.yml template; yaml quotes a string value.
var tmpl = template.Must(template.New("").Funcs(template.FuncMap{"yaml": yamlString}).
	ParseFS(templates, "testdata/ejabberd.yml.tmpl"))

// installHint names the Debian package Start needs.
const installHint = "apt-get install ejabberd"

// appGlobs are where Debian (ERL_LIBS=/usr/lib/<triplet>, as ejabberdctl
// sets it) and other installs put ejabberd's OTP application.
var appGlobs = []string{
	"/usr/lib/*/ejabberd-*/ebin/ejabberd.app",
	"/usr/lib/erlang/lib/ejabberd-*/ebin/ejabberd.app",
	"/usr/local/lib/erlang/lib/ejabberd-*/ebin/ejabberd.app",
}

// noEpmdPort is the ERL_EPMD_PORT given to every erl: nothing listens on
// TCP port 1 (tcpmux), so the node's epmd registration fails at once and,
// with -erl_epmd_port, is ignored; a machine-wide epmd is never contacted.
const noEpmdPort = "1"

// inetrc makes localhost, the host part of every node name, resolve to
// IPv4 loopback whatever /etc/hosts says.
const inetrc = "{host, {127,0,0,1}, [\"localhost\"]}.\n{lookup, [file, native]}.\n"

// findEjabberd locates erl and the ERL_LIBS directory holding ejabberd.
func findEjabberd() (erl, erlLibs string, err error) {
	erl, err = exec.LookPath("erl")
	if err != nil {
		if _, statErr := os.Stat("/usr/bin/erl"); statErr != nil {
			return "", "", fmt.Errorf("ejabberdtest: erl not found (%s): %w", installHint, err)
		}
		erl = "/usr/bin/erl"
	}
	for _, g := range appGlobs {
		matches, _ := filepath.Glob(g) // the patterns are valid
		if len(matches) > 0 {
			// .../LIBS/ejabberd-VERSION/ebin/ejabberd.app
			return erl, filepath.Dir(filepath.Dir(filepath.Dir(matches[0]))), nil
		}
	}
	return "", "", fmt.Errorf("ejabberdtest: ejabberd application not found in %v (%s)", appGlobs, installHint)
}

// randomHex returns n random bytes, hex-encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// yamlString quotes s as a JSON string, which YAML reads as a double-quoted
// scalar with the same value.
func yamlString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// configData is what the ejabberd.yml template sees.
type configData struct {
	Domain        string
	Component     string
	Secret        string
	Privileged    bool
	LogLevel      string
	CertFile      string
	C2SPort       int
	ComponentPort int
}

func (s *Server) homeDir() string    { return filepath.Join(s.baseDir, "home") }
func (s *Server) spoolDir() string   { return filepath.Join(s.baseDir, "spool") }
func (s *Server) configFile() string { return filepath.Join(s.baseDir, "ejabberd.yml") }
func (s *Server) inetrcFile() string { return filepath.Join(s.baseDir, "inetrc") }

// prepare writes what every run shares: the cookie, inetrc, certificate,
// ejabberd.yml and an empty spool.
func (s *Server) prepare() error {
	if strings.ContainsAny(s.baseDir, "\"\\") {
		return fmt.Errorf("ejabberdtest: directory %q holds a quote or backslash", s.baseDir)
	}
	for _, d := range []string{s.homeDir(), s.spoolDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("ejabberdtest: create %s: %w", d, err)
		}
	}
	// Erlang refuses a cookie file that others may read.
	if err := os.WriteFile(filepath.Join(s.homeDir(), ".erlang.cookie"), []byte(randomHex(16)), 0o400); err != nil {
		return fmt.Errorf("ejabberdtest: write cookie: %w", err)
	}
	if err := os.WriteFile(s.inetrcFile(), []byte(inetrc), 0o644); err != nil {
		return fmt.Errorf("ejabberdtest: write inetrc: %w", err)
	}
	s.certFile = filepath.Join(s.baseDir, "cert.pem")
	pool, err := writeCert(s.certFile, []string{s.opts.Domain, s.opts.Component, "localhost"})
	if err != nil {
		return err
	}
	s.pool = pool
	d := configData{
		Domain:        s.opts.Domain,
		Component:     s.opts.Component,
		Secret:        s.opts.Secret,
		Privileged:    s.opts.Privileged,
		LogLevel:      "info",
		CertFile:      s.certFile,
		C2SPort:       s.c2sPort,
		ComponentPort: s.compPort,
	}
	if s.opts.Verbose {
		d.LogLevel = "debug"
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "ejabberd.yml.tmpl", d); err != nil {
		return fmt.Errorf("ejabberdtest: render ejabberd.yml: %w", err)
	}
	if err := os.WriteFile(s.configFile(), buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("ejabberdtest: write ejabberd.yml: %w", err)
	}
	return nil
}

// env returns the environment for erl: the test's own, without HOME and
// any ERL_ or EJABBERD_ variable that could point elsewhere, plus this
// instance's HOME (cookie), ERL_LIBS, ERL_EPMD_PORT, ERL_INETRC and extra.
func (s *Server) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "ERL_") || strings.HasPrefix(kv, "EJABBERD_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"HOME="+s.homeDir(),
		"ERL_LIBS="+s.erlLibs,
		"ERL_EPMD_PORT="+noEpmdPort,
		"ERL_INETRC="+s.inetrcFile(),
	)
	return append(env, extra...)
}
