package config

import (
	"fmt"
	"os"
	"strings"
)

// MaxSecretFile bounds a password or secret file.
const MaxSecretFile = 4 << 10

// Secret returns value, or the contents of file (without trailing new
// lines) when file is set: the pair of keys such as bind_password and
// bind_password_file. key names the file's setting in errors, which never
// hold the secret.
func Secret(value, file, key string) (string, error) {
	if file == "" {
		return value, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if len(data) > MaxSecretFile {
		return "", fmt.Errorf("%s: %s is larger than %d bytes", key, file, MaxSecretFile)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}
