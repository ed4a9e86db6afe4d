package kamailiotest

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

//go:embed testdata/*.tmpl
var templates embed.FS

// tmpl holds the Kamailio config and tls profile templates.
var tmpl = template.Must(template.ParseFS(templates, "testdata/*.tmpl"))

// dbtextSchemaDir is where the Debian kamailio package installs the empty
// db_text tables (one file per table, first line the column list).
const dbtextSchemaDir = "/usr/share/kamailio/dbtext/kamailio"

// dbtextTables are the tables presence and presence_xml open; version must
// list each with the schema version the modules check at startup.
var dbtextTables = []string{"presentity", "active_watchers", "watchers", "xcap", "subscriber"}

// moduleDirs are the places Debian and source builds put Kamailio modules.
var moduleDirs = []string{
	"/usr/lib/x86_64-linux-gnu/kamailio/modules",
	"/usr/lib/aarch64-linux-gnu/kamailio/modules",
	"/usr/lib/kamailio/modules",
	"/usr/local/lib64/kamailio/modules",
	"/usr/local/lib/kamailio/modules",
}

// installHint names the Debian packages Start needs.
const installHint = "apt-get install kamailio kamailio-presence-modules kamailio-tls-modules"

// findKamailio locates the kamailio binary (also in /usr/sbin, which a test
// PATH often lacks) and a module directory holding the presence modules.
func findKamailio(needTLS bool) (bin, modDir string, err error) {
	bin, err = exec.LookPath("kamailio")
	if err != nil {
		for _, p := range []string{"/usr/sbin/kamailio", "/usr/local/sbin/kamailio"} {
			if _, statErr := os.Stat(p); statErr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		return "", "", fmt.Errorf("kamailiotest: kamailio binary not found (%s): %w", installHint, err)
	}
	need := []string{"presence.so", "presence_xml.so", "db_text.so"}
	if needTLS {
		need = append(need, "tls.so")
	}
	for _, dir := range moduleDirs {
		if _, err := os.Stat(filepath.Join(dir, "tm.so")); err != nil {
			continue
		}
		for _, m := range need {
			if _, err := os.Stat(filepath.Join(dir, m)); err != nil {
				return "", "", fmt.Errorf("kamailiotest: module %s missing in %s (%s): %w", m, dir, installHint, err)
			}
		}
		return bin, dir, nil
	}
	return "", "", fmt.Errorf("kamailiotest: no Kamailio module directory found in %v (%s)", moduleDirs, installHint)
}

// freeTCPUDPPort returns a loopback port that was free for both TCP and UDP
// a moment ago. The port is released before returning, so another process
// could take it first, which is unlikely on a test machine.
func freeTCPUDPPort() (int, error) {
	var lastErr error
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("kamailiotest: pick port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			lastErr = err
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, fmt.Errorf("kamailiotest: no port free for both TCP and UDP: %w", lastErr)
}

// configData is what the templates in testdata see.
type configData struct {
	Debug      int
	Domain     string
	ModulePath string
	CtlSocket  string
	DBDir      string
	Port       int
	MaxExpires int

	TLS               bool
	TLSPort           int
	TLSConfig         string
	CertFile          string
	KeyFile           string
	CAFile            string
	VerifyClientCert  bool
	RequireClientCert bool

	Auth              bool
	Authorize         bool
	RedirectTo        string
	RedirectTransport string
}

// render writes the config, tls profile and empty db_text tables into dir
// for run number run and returns the config path.
func (s *Server) render(dir string, run int) (string, error) {
	dbDir := filepath.Join(dir, "db")
	if err := os.MkdirAll(dbDir, 0o755); err != nil {
		return "", fmt.Errorf("kamailiotest: create run dir: %w", err)
	}
	if err := copyTables(dbDir); err != nil {
		return "", err
	}
	if err := writeSubscribers(dbDir, s.domain, s.opts.Auth); err != nil {
		return "", err
	}
	d := configData{
		Debug:             2,
		Domain:            s.domain,
		ModulePath:        s.modDir,
		CtlSocket:         filepath.Join(s.rtDir, fmt.Sprintf("ctl%d", run)),
		DBDir:             dbDir,
		Port:              s.port,
		MaxExpires:        s.opts.MaxExpires,
		TLS:               s.opts.TLS,
		TLSPort:           s.tlsPort,
		TLSConfig:         filepath.Join(dir, "tls.cfg"),
		CertFile:          s.opts.TLSCertFile,
		KeyFile:           s.opts.TLSKeyFile,
		CAFile:            s.opts.TLSCAFile,
		VerifyClientCert:  s.opts.TLSVerifyClient,
		RequireClientCert: s.opts.TLSRequireClient,
		Auth:              len(s.opts.Auth) > 0,
		Authorize:         s.opts.Authorize,
		RedirectTo:        s.opts.RedirectTo,
		RedirectTransport: strings.ToLower(s.opts.RedirectTransport),
	}
	if d.RedirectTransport == "" {
		d.RedirectTransport = "tcp"
	}
	if s.opts.Verbose {
		d.Debug = 3
	}
	cfg := filepath.Join(dir, "kamailio.cfg")
	if err := renderFile(cfg, "kamailio.cfg.tmpl", d); err != nil {
		return "", err
	}
	if d.TLS {
		if err := renderFile(d.TLSConfig, "tls.cfg.tmpl", d); err != nil {
			return "", err
		}
	}
	return cfg, nil
}

// renderFile executes the named template into path.
func renderFile(path, name string, d configData) error {
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, name, d); err != nil {
		return fmt.Errorf("kamailiotest: render %s: %w", name, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("kamailiotest: write %s: %w", path, err)
	}
	return nil
}

// copyTables copies the packaged empty presence tables into dbDir, with a
// version table reduced to those tables (db_text loads every file in the
// directory).
func copyTables(dbDir string) error {
	for _, t := range dbtextTables {
		data, err := os.ReadFile(filepath.Join(dbtextSchemaDir, t))
		if err != nil {
			return fmt.Errorf("kamailiotest: db_text schema (package kamailio): %w", err)
		}
		if err := os.WriteFile(filepath.Join(dbDir, t), data, 0o644); err != nil {
			return fmt.Errorf("kamailiotest: write table %s: %w", t, err)
		}
	}
	version, err := os.ReadFile(filepath.Join(dbtextSchemaDir, "version"))
	if err != nil {
		return fmt.Errorf("kamailiotest: db_text schema (package kamailio): %w", err)
	}
	out, err := filterVersion(version, dbtextTables)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dbDir, "version"), out, 0o644); err != nil {
		return fmt.Errorf("kamailiotest: write version table: %w", err)
	}
	return nil
}

// filterVersion keeps the header line of a db_text version table and the
// rows naming one of tables; it fails if a table has no row.
func filterVersion(version []byte, tables []string) ([]byte, error) {
	want := make(map[string]bool, len(tables))
	for _, t := range tables {
		want[t] = true
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(version))
	for first := true; sc.Scan(); first = false {
		line := sc.Text()
		fields := strings.Split(line, ":")
		if first || (len(fields) == 3 && want[fields[1]]) {
			out.WriteString(line + "\n")
			if !first {
				delete(want, fields[1])
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kamailiotest: read version table: %w", err)
	}
	if len(want) > 0 {
		return nil, errors.New("kamailiotest: version table lacks rows for some presence tables")
	}
	return out.Bytes(), nil
}

// writeSubscribers fills the db_text subscriber table (auth_db) with the
// users and plain-text passwords of auth, sorted by user.
func writeSubscribers(dbDir, domain string, auth map[string]string) error {
	path := filepath.Join(dbDir, "subscriber")
	head, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("kamailiotest: subscriber table: %w", err)
	}
	var b bytes.Buffer
	b.Write(head)
	users := make([]string, 0, len(auth))
	for u := range auth {
		users = append(users, u)
	}
	sort.Strings(users)
	for i, u := range users {
		if strings.ContainsAny(u+auth[u], ":\n\\") {
			return fmt.Errorf("kamailiotest: auth user %q or its password holds ':', a backslash or a line break", u)
		}
		// db_text allows no empty values: the HA1 columns are filled
		// although calculate_ha1 makes auth_db use the password.
		ha1 := md5.Sum([]byte(u + ":" + domain + ":" + auth[u]))
		ha1b := md5.Sum([]byte(u + "@" + domain + ":" + domain + ":" + auth[u]))
		fmt.Fprintf(&b, "%d:%s:%s:%s:%x:%x\n", i+1, u, domain, auth[u], ha1, ha1b)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("kamailiotest: write subscriber table: %w", err)
	}
	return nil
}
