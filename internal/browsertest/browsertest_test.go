package browsertest

import (
	"encoding/json"
	"errors"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// formPage is a small page in the style of the dashboard: a labelled input, a
// submit button that asks the server with fetch() and shows the answer, and
// a button whose handler throws.
const formPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>browsertest form</title>
<style>
body { font-family: sans-serif; margin: 1rem; }
input { display: block; width: 100%; max-width: 30rem; box-sizing: border-box; }
</style>
</head>
<body>
<main>
<h1>Greeter</h1>
<form id="ask">
<label for="name">Name</label>
<input id="name" name="name" autocomplete="off">
<button id="send" type="submit">Send</button>
</form>
<p id="answer" role="status" hidden></p>
<button id="crash" type="button">Crash</button>
</main>
<script>
document.getElementById("ask").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = document.getElementById("name").value;
  const res = await fetch("/api/greet?name=" + encodeURIComponent(name));
  if (!res.ok) {
    console.error("greet failed: %d", res.status);
    return;
  }
  const body = await res.json();
  const answer = document.getElementById("answer");
  answer.textContent = body.greeting;
  answer.hidden = false;
});
document.getElementById("crash").addEventListener("click", () => {
  throw new Error("boom");
});
</script>
</body>
</html>
`

// newFormServer serves formPage at / and answers /api/greet?name=N with
// {"greeting": "Hello, N!"}, or 400 when N is empty.
func newFormServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(formPage))
	})
	mux.HandleFunc("GET /api/greet", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			http.Error(w, "name is required", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"greeting": "Hello, " + name + "!"})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestBrowser shares one browser between its subtests, as a dashboard test
// package would, and checks afterwards that no browser process is left.
func TestBrowser(t *testing.T) {
	if os.Getenv(ArtifactsEnv) == "" {
		t.Setenv(ArtifactsEnv, t.TempDir())
	}
	srv := newFormServer(t)
	var userDataDir string
	var bodyDone time.Time
	t.Run("session", func(t *testing.T) {
		start := time.Now()
		b := New(t)
		t.Logf("browser start: %v", time.Since(start))
		userDataDir = b.userDataDir
		pids := pgrep(t, userDataDir)
		if len(pids) == 0 {
			t.Fatalf("pgrep finds no process with --user-data-dir=%s while the browser runs", userDataDir)
		}
		t.Logf("browser processes: %d", len(pids))
		t.Run("form", func(t *testing.T) { testForm(t, b, srv.URL) })
		t.Run("fullpage", func(t *testing.T) { testFullPage(t, b, srv.URL) })
		t.Run("console", func(t *testing.T) { testConsole(t, b, srv.URL) })
		t.Run("keyboard", func(t *testing.T) { testKeyboard(t, b, srv.URL) })
		bodyDone = time.Now()
	})
	if userDataDir == "" {
		return // the session failed before the browser started; it said why
	}
	if !bodyDone.IsZero() {
		t.Logf("browser close: %v", time.Since(bodyDone))
	}
	if pids := pgrep(t, userDataDir); len(pids) != 0 {
		t.Errorf("browser processes %v still run after the test ended", pids)
	}
}

// testForm fills in and submits the form at phone and laptop widths, and
// takes a screenshot of each.
func testForm(t *testing.T, b *Browser, url string) {
	tests := []struct {
		name          string
		width, height int
	}{
		{"phone", 390, 844},
		{"laptop", 1280, 800},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := b.Tab(t)
			if err := Viewport(ctx, tt.width, tt.height); err != nil {
				t.Fatal(err)
			}
			Do(t, ctx,
				chromedp.Navigate(url),
				chromedp.WaitVisible(chromedp.CSS("#name")),
				chromedp.SendKeys(chromedp.CSS("#name"), "Ada"),
				chromedp.Click(chromedp.CSS("#send")),
				chromedp.WaitVisible(chromedp.CSS("#answer")),
			)
			type page struct {
				Answer     string
				InnerWidth int
				Label      string
			}
			got := page{
				Answer:     Get(t, ctx, chromedp.Text(chromedp.CSS("#answer"))),
				InnerWidth: Get(t, ctx, chromedp.Evaluate[int](`window.innerWidth`)),
				Label:      Get(t, ctx, chromedp.Evaluate[string](`document.getElementById("name").labels[0].textContent`)),
			}
			want := page{Answer: "Hello, Ada!", InnerWidth: tt.width, Label: "Name"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("page after submit (-want +got):\n%s", diff)
			}

			path := Screenshot(t, ctx, "browsertest-form-"+strconv.Itoa(tt.width)+"x"+strconv.Itoa(tt.height))
			if diff := cmp.Diff(imageSize{tt.width, tt.height}, pngSize(t, path)); diff != "" {
				t.Errorf("screenshot %s size (-want +got):\n%s", path, diff)
			}
			if errs := ConsoleErrors(ctx); len(errs) != 0 {
				t.Errorf("console errors: %v", errs)
			}
		})
	}
}

// testFullPage checks that a screenshot covers the whole page, not only the
// viewport.
func testFullPage(t *testing.T, b *Browser, url string) {
	ctx := b.Tab(t)
	if err := Viewport(ctx, 390, 844); err != nil {
		t.Fatal(err)
	}
	Do(t, ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#name")))
	height := Get(t, ctx, chromedp.Evaluate[int](
		`document.querySelector("main").style.height = "2000px"; document.documentElement.scrollHeight`))
	if height <= 844 {
		t.Fatalf("page height %d, want it taller than the viewport", height)
	}
	path := Screenshot(t, ctx, "browsertest-fullpage")
	if diff := cmp.Diff(imageSize{390, height}, pngSize(t, path)); diff != "" {
		t.Errorf("full-page screenshot size (-want +got):\n%s", diff)
	}
}

// testConsole checks that a console.error and an uncaught exception of the
// page are captured, and that the browser's own log of the failed request is
// not.
func testConsole(t *testing.T, b *Browser, url string) {
	ctx := b.Tab(t)
	Do(t, ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("#send")),
		chromedp.Click(chromedp.CSS("#send")), // empty name: the server answers 400
	)
	WaitConsoleErrors(t, ctx, 1)
	Do(t, ctx, chromedp.Click(chromedp.CSS("#crash")))
	got := WaitConsoleErrors(t, ctx, 2)
	page := url + "/"
	want := []ConsoleError{
		{Text: "greet failed: 400", URL: page},
		{Exception: true, Text: "Uncaught Error: boom", URL: page},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(ConsoleError{}, "Line")); diff != "" {
		t.Errorf("console errors (-want +got):\n%s", diff)
	}
	for _, e := range got {
		if e.Line <= 0 {
			t.Errorf("%v: want the line of the call in the page", e)
		}
	}
}

// testKeyboard checks that Tab moves the focus through the form in order and
// that the form works with the keyboard alone.
func testKeyboard(t *testing.T, b *Browser, url string) {
	ctx := b.Tab(t)
	Do(t, ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#name")))
	active := func() string {
		return Get(t, ctx, chromedp.Evaluate[string](`document.activeElement.id || document.activeElement.tagName`))
	}
	var order []string
	for range 3 {
		Do(t, ctx, chromedp.KeyEvent(kb.Tab))
		order = append(order, active())
	}
	if diff := cmp.Diff([]string{"name", "send", "crash"}, order); diff != "" {
		t.Errorf("focus order after each Tab (-want +got):\n%s", diff)
	}

	Do(t, ctx,
		chromedp.Focus(chromedp.CSS("#name")),
		chromedp.KeyEvent("Grace"),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#answer")),
	)
	if got, want := Get(t, ctx, chromedp.Text(chromedp.CSS("#answer"))), "Hello, Grace!"; got != want {
		t.Errorf("answer after typing and Enter = %q, want %q", got, want)
	}
}

// imageSize is the size of an image in pixels.
type imageSize struct{ Width, Height int }

// pngSize decodes the header of the PNG file at path.
func pngSize(t *testing.T, path string) imageSize {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open screenshot: %v", err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", path, err)
	}
	return imageSize{cfg.Width, cfg.Height}
}

// pgrep returns the ids of the processes whose command line holds
// --user-data-dir=dir, as pgrep(1) sees them.
func pgrep(t *testing.T, dir string) []string {
	t.Helper()
	if _, err := exec.LookPath("pgrep"); err != nil {
		t.Fatalf("pgrep not found (Debian package procps): %v", err)
	}
	out, err := exec.Command("pgrep", "-f", "--", "--user-data-dir="+regexp.QuoteMeta(dir)).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return nil // no process matched
	}
	if err != nil {
		t.Fatalf("pgrep: %v", err)
	}
	return strings.Fields(string(out))
}

func TestFindBrowserMissing(t *testing.T) {
	saved := execCandidates
	t.Cleanup(func() { execCandidates = saved })
	execCandidates = []string{"presenced-no-such-browser", "/nonexistent/chromium"}
	_, err := findBrowser()
	if err == nil || !strings.Contains(err.Error(), "apt-get install chromium") {
		t.Errorf("findBrowser() error = %v, want one with the install hint", err)
	}
}

func TestScreenshotFile(t *testing.T) {
	tests := []struct {
		name    string
		want    string
		wantErr bool
	}{
		{name: "overview", want: "overview.png"},
		{name: "overview.png", want: "overview.png"},
		{name: "TestDashboard/settings 390x844", want: "TestDashboard-settings-390x844.png"},
		{name: "../../etc/passwd", want: "..-..-etc-passwd.png"},
		{name: "", wantErr: true},
		{name: ".png", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := screenshotFile(tt.name)
			if (err != nil) != tt.wantErr {
				t.Fatalf("screenshotFile(%q) error = %v, want error %v", tt.name, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("screenshotFile(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestArtifactsDir(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// The package lives at internal/browsertest below the repository root.
	root := filepath.Dir(filepath.Dir(wd))
	tests := []struct {
		name string
		env  string
		want string
	}{
		{"default", "", filepath.Join(root, "artifacts", "screenshots")},
		{"env", "/tmp/presenced-artifacts", "/tmp/presenced-artifacts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := artifactsDir(tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("artifactsDir(%q) = %q, want %q", tt.env, got, tt.want)
			}
		})
	}
}

func TestRepoRootNotFound(t *testing.T) {
	if _, err := repoRoot(t.TempDir()); err == nil || !strings.Contains(err.Error(), ArtifactsEnv) {
		t.Errorf("repoRoot(temp dir) error = %v, want one that names %s", err, ArtifactsEnv)
	}
}
