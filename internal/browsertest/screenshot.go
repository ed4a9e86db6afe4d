package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// ArtifactsEnv names the environment variable that overrides the directory
// of screenshots. By default they go to artifacts/screenshots at the root of
// the repository (the directory that holds go.mod), which .gitignore
// excludes.
const ArtifactsEnv = "PRESENCED_ARTIFACTS"

// Screenshot saves a full-page PNG of the tab of ctx as NAME.png in the
// artifacts directory (see [ArtifactsEnv]), creating the directory, and
// returns the file's path. Characters of name other than letters, digits,
// '-', '_' and '.' become '-', so a test name such as t.Name() is fine. A
// later screenshot of the same name replaces the file.
func Screenshot(tb testing.TB, ctx context.Context, name string) string {
	tb.Helper()
	file, err := screenshotFile(name)
	if err != nil {
		tb.Fatalf("browsertest: screenshot %q: %v", name, err)
	}
	dir, err := artifactsDir(os.Getenv(ArtifactsEnv))
	if err != nil {
		tb.Fatalf("browsertest: screenshot %q: %v", name, err)
	}
	// Quality 100 makes chromedp ask for PNG rather than JPEG.
	png, err := run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.Fatalf("browsertest: screenshot %q: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatalf("browsertest: screenshot %q: %v", name, err)
	}
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.Fatalf("browsertest: screenshot %q: %v", name, err)
	}
	return path
}

// Viewport sets the tab's viewport to width x height CSS pixels at scale 1,
// for example 390x844 for a phone and 1280x800 for a laptop. It sets the
// layout size only: no touch and no mobile emulation, so the page lays out
// at exactly width pixels whether or not it has a viewport meta tag.
func Viewport(ctx context.Context, width, height int) error {
	if _, err := run(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		return fmt.Errorf("set viewport %dx%d: %w", width, height, err)
	}
	return nil
}

// screenshotFile turns a screenshot name into a safe file name.
func screenshotFile(name string) (string, error) {
	name = strings.TrimSuffix(name, ".png")
	if name == "" {
		return "", errors.New("empty name")
	}
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, name)
	return safe + ".png", nil
}

// artifactsDir returns the screenshot directory: env when set, otherwise
// artifacts/screenshots in the repository root above the working directory
// (go test runs in the package's directory).
func artifactsDir(env string) (string, error) {
	if env != "" {
		return env, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	root, err := repoRoot(wd)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "artifacts", "screenshots"), nil
}

// repoRoot returns the nearest directory at or above dir that holds go.mod.
func repoRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod at or above %s; set %s", dir, ArtifactsEnv)
		}
		d = parent
	}
}
