package ui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"
)

// answer is what a test compares of one response.
type answer struct {
	Status       int
	ContentType  string
	CacheControl string
	CSP          string
	NoSniff      string
}

func get(t *testing.T, h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func answerOf(w *httptest.ResponseRecorder) answer {
	h := w.Result().Header
	return answer{
		Status:       w.Code,
		ContentType:  h.Get("Content-Type"),
		CacheControl: h.Get("Cache-Control"),
		CSP:          h.Get("Content-Security-Policy"),
		NoSniff:      h.Get("X-Content-Type-Options"),
	}
}

func TestHandlerRoutes(t *testing.T) {
	const (
		htmlType = "text/html; charset=utf-8"
		textType = "text/plain; charset=utf-8"
	)
	page := answer{Status: 200, ContentType: htmlType, CacheControl: "no-cache", CSP: CSP, NoSniff: "nosniff"}
	notFound := answer{Status: 404, ContentType: textType, CSP: CSP, NoSniff: "nosniff"}
	tests := []struct {
		method, path string
		want         answer
	}{
		{"GET", "/admin/", page},
		{"HEAD", "/admin/", page},
		{"GET", "/admin/login", page},
		{"GET", "/admin/overview", page},
		{"GET", "/admin/settings", page},
		{"GET", "/admin/settings/", page},
		{"GET", "/admin/backend", page},
		{"GET", "/admin/endpoints", page},
		{"GET", "/admin/subscriptions", page},
		{"GET", "/admin/audit", page},
		{"GET", "/admin/assets/app.js", answer{200, "text/javascript; charset=utf-8", "no-cache", CSP, "nosniff"}},
		{"GET", "/admin/assets/app.css", answer{200, "text/css; charset=utf-8", "no-cache", CSP, "nosniff"}},
		{"GET", "/admin/assets/index.html", notFound},
		{"GET", "/admin/assets/", notFound},
		{"GET", "/admin/assets/nope.js", notFound},
		{"GET", "/admin/nope", notFound},
		{"GET", "/admin/api/login", notFound},
		{"GET", "/admin/settings/x", notFound},
		{"GET", "/elsewhere", notFound},
		{"POST", "/admin/login", answer{405, textType, "", CSP, "nosniff"}},
	}
	h := Handler()
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			got := answerOf(get(t, h, tt.method, tt.path, nil))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s", tt.method, tt.path, diff)
			}
		})
	}
}

// TestPagesServeIndex checks that every page route answers index.html and
// that index.html has a section for it.
func TestPagesServeIndex(t *testing.T) {
	index, err := fs.ReadFile(static, "static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	h := Handler()
	for _, p := range pages {
		w := get(t, h, "GET", Prefix+p, nil)
		if w.Code != http.StatusOK || w.Body.String() != string(index) {
			t.Errorf("GET %s%s: status %d, body is index.html: %v", Prefix, p, w.Code, w.Body.String() == string(index))
		}
		if p != "" && !strings.Contains(string(index), `data-page="`+p+`"`) {
			t.Errorf("index.html has no section with data-page=%q", p)
		}
	}
}

func TestConditionalGet(t *testing.T) {
	h := Handler()
	first := get(t, h, "GET", "/admin/assets/app.js", nil)
	etag := first.Result().Header.Get("ETag")
	if first.Code != http.StatusOK || etag == "" {
		t.Fatalf("GET app.js: status %d, ETag %q; want 200 with an ETag", first.Code, etag)
	}
	again := get(t, h, "GET", "/admin/assets/app.js", http.Header{"If-None-Match": {etag}})
	if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
		t.Errorf("GET app.js with If-None-Match: status %d, %d body bytes; want 304 and none", again.Code, again.Body.Len())
	}
}

// staticFiles returns the path (below static/) and text of every embedded
// file.
func staticFiles(t *testing.T) map[string]string {
	t.Helper()
	files := make(map[string]string)
	err := fs.WalkDir(static, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, name)
		files[strings.TrimPrefix(name, "static/")] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestAssetsServed checks that every embedded file but index.html is served
// under /admin/assets/ with the type of its extension.
func TestAssetsServed(t *testing.T) {
	h := Handler()
	for name := range staticFiles(t) {
		if name == "index.html" {
			continue
		}
		w := get(t, h, "GET", "/admin/assets/"+name, nil)
		want := answer{200, contentTypes[path.Ext(name)], "no-cache", CSP, "nosniff"}
		if diff := cmp.Diff(want, answerOf(w)); diff != "" {
			t.Errorf("GET /admin/assets/%s (-want +got):\n%s", name, diff)
		}
	}
}

// TestOffline checks that no file refers to another origin: no http(s)
// URL and no protocol-relative "//host" reference, so the dashboard works
// without internet access and within CSP default-src 'self'.
func TestOffline(t *testing.T) {
	remote := regexp.MustCompile(`(?i)https?://|(src|href|action)\s*=\s*["']?//|url\(\s*["']?//|import\s*\(?\s*["']//`)
	for name, text := range staticFiles(t) {
		for i, line := range strings.Split(text, "\n") {
			if m := remote.FindString(line); m != "" {
				t.Errorf("%s:%d refers to another origin (%q): %s", name, i+1, m, strings.TrimSpace(line))
			}
		}
	}
}

// TestReferencesResolve checks that every asset that index.html loads and
// every module that a script imports is embedded.
func TestReferencesResolve(t *testing.T) {
	files := staticFiles(t)
	refs := regexp.MustCompile(`(?:src|href)="/admin/assets/([^"]+)"`)
	for _, m := range refs.FindAllStringSubmatch(files["index.html"], -1) {
		if _, ok := files[m[1]]; !ok {
			t.Errorf("index.html loads /admin/assets/%s, which is not embedded", m[1])
		}
	}
	imports := regexp.MustCompile(`(?m)^import .* from "\./([^"]+)";`)
	for name, text := range files {
		for _, m := range imports.FindAllStringSubmatch(text, -1) {
			if _, ok := files[m[1]]; !ok {
				t.Errorf("%s imports ./%s, which is not embedded", name, m[1])
			}
		}
	}
}

// TestHTML checks index.html for what the CSP and accessibility need:
// every field has a label and only ids that exist in aria-describedby;
// scripts are files; no inline styles or event handlers.
func TestHTML(t *testing.T) {
	b, err := fs.ReadFile(static, "static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("parse index.html: %v", err)
	}
	ids := map[string]bool{}
	labelled := map[string]bool{}
	var fields, scripts []*html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if id := attr(n, "id"); id != "" {
				if ids[id] {
					t.Errorf("id %q is used twice", id)
				}
				ids[id] = true
			}
			for _, a := range n.Attr {
				if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
					t.Errorf("<%s id=%q> has an inline %s attribute, which the CSP blocks", n.Data, attr(n, "id"), a.Key)
				}
			}
			switch n.Data {
			case "label":
				labelled[attr(n, "for")] = true
			case "input", "select", "textarea":
				fields = append(fields, n)
			case "script":
				scripts = append(scripts, n)
			case "style":
				t.Errorf("inline <style> element; the CSP blocks it")
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)

	if len(fields) == 0 {
		t.Fatal("index.html has no form fields")
	}
	var unlabelled, badRefs []string
	for _, f := range fields {
		id := attr(f, "id")
		if typ := attr(f, "type"); typ == "hidden" || typ == "submit" || typ == "button" {
			continue
		}
		if id == "" || !labelled[id] {
			unlabelled = append(unlabelled, "<"+f.Data+" id="+id+">")
		}
		for ref := range strings.FieldsSeq(attr(f, "aria-describedby")) {
			if !ids[ref] {
				badRefs = append(badRefs, id+"->"+ref)
			}
		}
	}
	if diff := cmp.Diff([]string(nil), unlabelled); diff != "" {
		t.Errorf("fields without a <label for> (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string(nil), badRefs); diff != "" {
		t.Errorf("aria-describedby naming no element (-want +got):\n%s", diff)
	}
	for _, s := range scripts {
		if attr(s, "src") == "" || s.FirstChild != nil {
			t.Errorf("inline <script>; the CSP allows script files only")
		}
	}
	if !slices.ContainsFunc(scripts, func(s *html.Node) bool { return attr(s, "type") == "module" }) {
		t.Errorf("index.html loads no module script")
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
