package prosodytest

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
)

//go:embed testdata/*.tmpl
var templates embed.FS

// tmpl holds the Prosody configuration template; {{lua X}} writes X as a
// quoted Lua string literal.
var tmpl = template.Must(template.New("").Funcs(template.FuncMap{"lua": luaString}).
	ParseFS(templates, "testdata/*.tmpl"))

// installHint names the Debian packages Start needs.
const installHint = "apt-get install prosody prosody-modules"

// binDirs are searched for prosody when it is not on PATH.
var binDirs = []string{"/usr/bin", "/usr/local/bin"}

// pluginDirs are the places a prosody-modules checkout or package may put
// community modules. Debian's prosody-modules installs them into Prosody's
// own plugin directory, /usr/lib/prosody/modules, as mod_NAME/mod_NAME.lua.
var pluginDirs = []string{
	"/usr/lib/prosody/modules",
	"/usr/share/prosody-modules",
	"/usr/local/lib/prosody/modules",
}

// findProsody locates the prosody launcher.
func findProsody() (string, error) {
	if bin, err := exec.LookPath("prosody"); err == nil {
		return bin, nil
	}
	for _, d := range binDirs {
		p := filepath.Join(d, "prosody")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("prosodytest: prosody not found on PATH or in %v (%s)", binDirs, installHint)
}

// findPluginDir returns the directory holding mod_privilege, in either
// layout Prosody's plugin loader accepts.
func findPluginDir() (string, error) {
	for _, d := range pluginDirs {
		for _, p := range []string{"mod_privilege/mod_privilege.lua", "mod_privilege.lua"} {
			if _, err := os.Stat(filepath.Join(d, p)); err == nil {
				return d, nil
			}
		}
	}
	return "", fmt.Errorf("prosodytest: mod_privilege not found in %v (%s)", pluginDirs, installHint)
}

// configData is what the configuration template sees.
type configData struct {
	Dir, DataDir, PidFile, LogFile, LogLevel string
	PluginDir                                string
	CertDir, CertFile, KeyFile               string
	C2SPort, ComponentPort, DirectTLSPort    int
	Domain, Component, Secret                string
	Privileged                               bool
}

// renderConfig writes the configuration for d to path.
func renderConfig(path string, d configData) error {
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "prosody.cfg.lua.tmpl", d); err != nil {
		return fmt.Errorf("prosodytest: render config: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("prosodytest: write config: %w", err)
	}
	return nil
}

// luaString quotes s as a Lua 5.x string literal. Bytes outside printable
// ASCII become decimal escapes (\ddd, three digits so a following digit
// cannot extend them), which every Lua version reads back byte for byte.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// encodePath encodes a host or user name the way Prosody's datamanager
// names files: every byte that is not an ASCII letter or digit becomes
// %xx with lower-case hex ("example.com" -> "example%2ecom").
func encodePath(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02x", c)
	}
	return b.String()
}

// accountFile returns the internal-storage path of user's account on domain
// under dataDir.
func accountFile(dataDir, domain, user string) string {
	return filepath.Join(dataDir, encodePath(domain), "accounts", encodePath(user)+".dat")
}

// accountData is the content of an account file for internal_plain, in the
// layout Prosody's own serializer writes.
func accountData(password string) []byte {
	return []byte("return {\n\t[\"password\"] = " + luaString(password) + ";\n};\n")
}

// writeAccount stores user's account atomically (temporary file, then
// rename), so a running Prosody never reads half a file.
func writeAccount(dataDir, domain, user, password string) error {
	path := accountFile(dataDir, domain, user)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("prosodytest: account dir: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".new-*")
	if err != nil {
		return fmt.Errorf("prosodytest: account %s: %w", user, err)
	}
	if _, err := tmp.Write(accountData(password)); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("prosodytest: write account %s: %w", user, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("prosodytest: write account %s: %w", user, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("prosodytest: write account %s: %w", user, err)
	}
	return nil
}
