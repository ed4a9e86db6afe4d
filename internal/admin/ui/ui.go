// Package ui is the admin dashboard of presenced: static HTML, CSS and
// JavaScript embedded in the binary and served under /admin/ on the admin
// listener. The pages talk to the admin JSON API (API.md §5) and to the
// session routes under /admin/api/ described in README.md; this package
// serves files only and answers no API route.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the path under which [Handler] serves the dashboard.
const Prefix = "/admin/"

// CSP is the Content-Security-Policy of every answer: scripts, styles and
// requests only from the dashboard's own origin, nothing inline, no
// framing. img-src allows data: for the empty favicon of the pages.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// pages are the routes of the single-page app, below Prefix; each serves
// index.html, and the script shows the page the path names.
var pages = []string{"", "login", "setup", "overview", "settings", "backend", "endpoints", "subscriptions", "audit"}

//go:embed static
var static embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// Handler returns the handler of the dashboard. Mount it at [Prefix] on the
// admin listener, before any catch-all route, and route /admin/api/ to the
// session handlers: Handler answers 404 there as for every unknown path.
//
// Page routes (/admin/, /admin/settings, ...) answer index.html; assets
// live under /admin/assets/. Answers carry an ETag and Cache-Control
// no-cache, so a browser revalidates (cheaply, with 304) and never runs the
// scripts of an older binary.
func Handler() http.Handler {
	assets, err := load()
	if err != nil {
		// The files are compiled in; failing here is a build defect that
		// the package tests catch.
		panic(err)
	}
	index := assets["index.html"]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		a, ok := index, isPage(rest)
		if name, isAsset := strings.CutPrefix(rest, "assets/"); isAsset && name != "index.html" {
			a, ok = assets[name]
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", a.ctype)
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", a.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}

// isPage reports whether rest (the path below Prefix) is a page route.
func isPage(rest string) bool {
	rest = strings.TrimSuffix(rest, "/")
	for _, p := range pages {
		if rest == p {
			return true
		}
	}
	return false
}

// setSecurityHeaders sets the headers that every answer carries.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// load reads every embedded file into memory with its content type and
// ETag, keyed by its path below static/.
func load() (map[string]asset, error) {
	root, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("admin ui: %w", err)
	}
	assets := make(map[string]asset)
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		ctype, err := contentType(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		assets[name] = asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("admin ui: load assets: %w", err)
	}
	if _, ok := assets["index.html"]; !ok {
		return nil, fmt.Errorf("admin ui: no index.html")
	}
	return assets, nil
}

// contentTypes are the types of the files the dashboard ships, fixed here
// rather than read from the system's MIME tables, which differ between
// machines. A file of another kind fails [Handler] (and the tests).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// contentType returns the Content-Type of the file name.
func contentType(name string) (string, error) {
	ext := path.Ext(name)
	if t, ok := contentTypes[ext]; ok {
		return t, nil
	}
	return "", fmt.Errorf("file %s: unknown content type", name)
}
