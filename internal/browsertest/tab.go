package browsertest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// Tab opens a new tab in the browser and returns its chromedp context. The
// tab closes when the test ends. Run actions on it with [Do] and [Get]; the
// context itself has no deadline, because chromedp binds the tab to it.
//
// From its first moment the tab records the page's console.error calls and
// uncaught exceptions; read them with [ConsoleErrors].
func (b *Browser) Tab(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	if err := startBounded(ctx, cancel); err != nil {
		cancel()
		tb.Fatalf("browsertest: open tab: %v", err)
	}
	t := &tab{changed: make(chan struct{})}
	ctx = context.WithValue(ctx, tabKey{}, t)
	// Console subscribes before it returns, and the tab has loaded nothing
	// yet, so no message is lost.
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return // the tab closed
			}
			t.record(m)
		}
	}()
	tb.Cleanup(func() {
		cancel() // closes the tab and ends the console iterator
		<-done
	})
	return ctx
}

// Do runs the actions in the tab in order, each within [ActionTimeout], and
// fails the test at the first error.
func Do(tb testing.TB, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	for i, a := range actions {
		if _, err := run(ctx, a); err != nil {
			tb.Fatalf("browsertest: action %d of %d (limit %v): %v", i+1, len(actions), ActionTimeout, err)
		}
	}
}

// Get runs one action that returns a value, within [ActionTimeout], and
// fails the test on error.
//
//	active := browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.activeElement.id`))
func Get[T any](tb testing.TB, ctx context.Context, a chromedp.Action[T]) T {
	tb.Helper()
	v, err := run(ctx, a)
	if err != nil {
		tb.Fatalf("browsertest: action (limit %v): %v", ActionTimeout, err)
	}
	return v
}

// run runs a within ActionTimeout on a tab that is already open.
func run[T any](ctx context.Context, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, ActionTimeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// ConsoleError is a console.error call or an uncaught exception (including an
// unhandled promise rejection) of a page.
type ConsoleError struct {
	// Exception reports whether the page threw and nothing caught it.
	Exception bool
	// Text is what the DevTools console shows, such as "Uncaught Error: boom".
	Text string
	// URL and Line (0-based, as the protocol reports it) locate the call or
	// the throw; they may be empty.
	URL  string
	Line int64
}

func (e ConsoleError) String() string {
	kind := "console.error"
	if e.Exception {
		kind = "exception"
	}
	return fmt.Sprintf("%s: %s (%s:%d)", kind, e.Text, e.URL, e.Line+1)
}

// ConsoleErrors returns the console errors and uncaught exceptions that the
// tab of ctx has recorded so far, oldest first. Messages arrive
// asynchronously: poll for an expected one rather than reading once. It
// returns nil for a context that [Browser.Tab] did not make.
func ConsoleErrors(ctx context.Context) []ConsoleError {
	t, _ := ctx.Value(tabKey{}).(*tab)
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.errors)
}

// WaitConsoleErrors waits until the tab of ctx has recorded at least n
// console errors, within [ActionTimeout], and returns all of them. It fails
// the test when they do not arrive in time.
func WaitConsoleErrors(tb testing.TB, ctx context.Context, n int) []ConsoleError {
	tb.Helper()
	t, _ := ctx.Value(tabKey{}).(*tab)
	if t == nil {
		tb.Fatal("browsertest: WaitConsoleErrors needs a context from Browser.Tab")
	}
	ctx, cancel := context.WithTimeout(ctx, ActionTimeout)
	defer cancel()
	for {
		t.mu.Lock()
		errs, changed := slices.Clone(t.errors), t.changed
		t.mu.Unlock()
		if len(errs) >= n {
			return errs
		}
		select {
		case <-changed:
		case <-ctx.Done():
			tb.Fatalf("browsertest: waiting for %d console errors, have %d %v: %v", n, len(errs), errs, ctx.Err())
		}
	}
}

type tabKey struct{}

// tab is the state that Tab keeps for one tab.
type tab struct {
	mu      sync.Mutex
	errors  []ConsoleError // guarded by mu
	changed chan struct{}  // guarded by mu; closed and replaced on each new error
}

// record keeps m when it is an error or an exception.
func (t *tab) record(m chromedp.ConsoleMessage) {
	if m.Type != chromedp.ConsoleError && !m.IsException() {
		return
	}
	// Browser log entries (Log domain) have a Source; console.error has
	// none. Keep only what the page itself reported.
	if m.Source != "" {
		return
	}
	e := ConsoleError{Exception: m.IsException(), Text: m.Text, URL: m.URL, Line: m.Line}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errors = append(t.errors, e)
	close(t.changed)
	t.changed = make(chan struct{})
}
