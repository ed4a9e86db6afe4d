// Package browsertest runs tests in a real headless Chromium through chromedp.
//
// A test package starts one browser with [New] and opens a fresh tab per test
// with [Browser.Tab]. Each tab records its console errors and uncaught
// exceptions ([ConsoleErrors]); [Do] and [Get] run chromedp actions with a
// per-action timeout and fail the test on error; [Screenshot] saves full-page
// PNGs as build artifacts; [Viewport] switches between phone and laptop
// widths.
//
// The browser never reaches the network on its own (background networking,
// component updates and QUIC are off), so tests work on machines without
// internet access. As root, chromedp adds --no-sandbox.
package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	// ActionTimeout bounds each action that [Do], [Get], [Screenshot] and
	// [Viewport] run, so that a stuck page fails the test instead of hanging
	// it until the go test deadline.
	ActionTimeout = 10 * time.Second

	// startTimeout bounds the start of the browser and the opening of a tab.
	startTimeout = 30 * time.Second

	// closeTimeout bounds the graceful close of the browser; after it the
	// process is killed.
	closeTimeout = 10 * time.Second

	// windowWidth and windowHeight are the fixed window size, so that
	// screenshots and layouts do not depend on the machine.
	windowWidth, windowHeight = 1280, 800
)

// installHint tells how to get a browser when none is found.
const installHint = "install it with `apt-get install chromium` (scripts/test.sh does this)"

// execCandidates are the browser binaries New looks for, in order: names in
// PATH first, then Debian's fixed location.
var execCandidates = []string{"chromium", "chromium-browser", "/usr/bin/chromium"}

// Browser is one headless Chromium process with its own temporary profile.
// It is safe to open tabs from several goroutines.
type Browser struct {
	ctx         context.Context // chromedp context that owns the browser
	userDataDir string
	output      *lockedBuffer // browser stdout and stderr, shown on failure
	started     bool          // set by New once the browser runs
}

// New starts a headless Chromium for the test and closes it when the test and
// its subtests end. It fails the test (it never skips) when no browser is
// installed or the browser does not start. Start one browser per test package
// (for example in a parent test whose subtests each use [Browser.Tab]):
// starting one takes a few hundred milliseconds.
func New(tb testing.TB) *Browser {
	tb.Helper()
	path, err := findBrowser()
	if err != nil {
		tb.Fatalf("browsertest: %v", err)
	}
	b := &Browser{userDataDir: tb.TempDir(), output: new(lockedBuffer)}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(b.userDataDir),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU,
		chromedp.WindowSize(windowWidth, windowHeight),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.CombinedOutput(b.output),
	}
	// The browser lives on a background context: its life is bound to the
	// test by Cleanup, not to a caller's context.
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b.ctx = ctx
	tb.Cleanup(func() {
		b.close(tb)
		cancel()
		allocCancel() // waits for the process to exit
		b.checkLeftovers(tb)
	})
	if err := startBounded(ctx, cancel); err != nil {
		tb.Fatalf("browsertest: start %s: %v\nbrowser output (without D-Bus noise):\n%s", path, err, b.output.withoutNoise())
	}
	b.started = true
	return b
}

// close closes the browser gracefully and logs its output when the test failed.
func (b *Browser) close(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, closeTimeout)
	defer cancel()
	if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
		tb.Errorf("browsertest: close browser: %v", err)
	}
	if tb.Failed() && b.started {
		tb.Logf("browsertest: browser output (without D-Bus noise):\n%s", b.output.withoutNoise())
	}
}

// checkLeftovers fails the test when a process of this browser outlived it,
// and kills it so that it cannot disturb later tests.
func (b *Browser) checkLeftovers(tb testing.TB) {
	tb.Helper()
	pids, err := processesUsing(b.userDataDir)
	if err != nil {
		tb.Errorf("browsertest: look for leftover browser processes: %v", err)
		return
	}
	if len(pids) == 0 {
		return
	}
	for _, pid := range pids {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
	}
	tb.Errorf("browsertest: browser processes %v outlived the browser (killed)", pids)
}

// findBrowser returns the path of the first browser binary of execCandidates.
func findBrowser() (string, error) {
	for _, name := range execCandidates {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("no Chromium found (looked for %q); %s", execCandidates, installHint)
}

// startBounded makes the first chromedp call on ctx, which starts the browser
// or opens the tab. That call binds the browser or tab to ctx for its whole
// life, so it cannot run under a deadline; instead a timer cancels ctx when
// the start takes longer than startTimeout.
func startBounded(ctx context.Context, cancel context.CancelFunc) error {
	timer := time.AfterFunc(startTimeout, cancel)
	err := chromedp.Do(ctx)
	if !timer.Stop() {
		return fmt.Errorf("not ready within %v: %w", startTimeout, err)
	}
	return err
}

// lockedBuffer is a bytes.Buffer safe for the writer goroutine of chromedp
// and the test goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// withoutNoise returns the output without the lines about D-Bus: test
// machines have no D-Bus, and Chromium complains about it dozens of times at
// every start, burying the lines that explain a failure.
func (b *lockedBuffer) withoutNoise() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out strings.Builder
	for line := range strings.Lines(b.buf.String()) {
		if !strings.Contains(line, "dbus") {
			out.WriteString(line)
		}
	}
	return out.String()
}
