package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/config"
)

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw := write("pw", "s3cret\r\n")
	big := write("big", strings.Repeat("x", config.MaxSecretFile+1))
	tests := []struct {
		value, file, want, errHas string
	}{
		{value: "inline", want: "inline"},
		{value: "ignored", file: pw, want: "s3cret"},
		{file: big, errHas: "larger than"},
		{file: filepath.Join(dir, "missing"), errHas: "x.password_file"},
	}
	for _, tt := range tests {
		got, err := config.Secret(tt.value, tt.file, "x.password_file")
		if tt.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errHas) || strings.Contains(err.Error(), "xxxx") {
				t.Errorf("Secret(%q) error = %v, want one saying %q without the contents", tt.file, err, tt.errHas)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Secret(%q, %q) = %q, %v; want %q", tt.value, tt.file, got, err, tt.want)
		}
	}
}
