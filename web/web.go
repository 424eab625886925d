// Package web is the web UI that `wfsh server` serves at `/`: pages
// rendered on the server with html/template over the API's own types
// (server.RunList, server.RunDetail, server.DeploymentInfo, store.Pool,
// ...), each fetched through the API with the user's own token, as the
// CLI fetches them: the UI makes no query of its own. A session is the
// token the user logged in with, in an HttpOnly cookie; every form
// carries the session's CSRF token. htmx (vendored, no build step)
// fetches and swaps the parts of pages, the runs table comes live as
// server-sent events of this package, and a little plain JavaScript
// follows a run's log and graph. docs/ui.md.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed templates static
var files embed.FS

// Options configure the UI.
type Options struct {
	// API is the server's handler (server.Server.Handler): the pages'
	// only source of data, and what the UI serves under /api/, /healthz
	// and /readyz.
	API http.Handler
	// Secure marks the session cookie Secure: set it when serving TLS.
	Secure bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// UI serves the pages.
type UI struct {
	opt  Options
	mux  *http.ServeMux
	view *View
	// stopping is closed by Stop: the live streams end.
	stopping chan struct{}
	stopOnce sync.Once
}

// Stop ends the UI's live streams (the runs table's), as the server's
// Stop ends its own, so that shutting down does not wait for them.
func (u *UI) Stop() { u.stopOnce.Do(func() { close(u.stopping) }) }

// New makes the UI over opt.API.
func New(opt Options) *UI {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	u := &UI{opt: opt, mux: http.NewServeMux(), view: NewView(), stopping: make(chan struct{})}
	u.routes()
	return u
}

// Handler serves the UI at / and the API under it.
func (u *UI) Handler() http.Handler { return u }

func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if strings.HasPrefix(p, "/api/") || p == "/healthz" || p == "/readyz" {
		u.opt.API.ServeHTTP(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	// A page's answer depends on what htmx asks for (a part of it).
	h.Set("Vary", "HX-Request, HX-Target, HX-History-Restore-Request")
	u.mux.ServeHTTP(w, r)
}

func (u *UI) routes() {
	static, _ := fs.Sub(files, "static")
	u.mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles(static)))
	u.mux.HandleFunc("GET /login", u.loginPage)
	u.mux.HandleFunc("POST /login", u.login)
	u.mux.HandleFunc("POST /logout", u.logout)
	u.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/runs", http.StatusSeeOther) })
	u.mux.HandleFunc("GET /runs", u.page(u.runs))
	u.mux.HandleFunc("GET /live/runs", u.liveRuns)
	u.mux.HandleFunc("GET /runs/{id}", u.page(u.run))
	u.mux.HandleFunc("GET /runs/{id}/graph.dot", u.page(u.graphDOT))
	u.mux.HandleFunc("GET /runs/{id}/log.txt", u.page(u.logText))
	u.mux.HandleFunc("POST /runs/{id}/cancel", u.form(u.cancel))
	u.mux.HandleFunc("POST /runs/{id}/retry", u.form(u.retry))
	u.mux.HandleFunc("POST /runs/{id}/resume", u.form(u.resume))
	u.mux.HandleFunc("GET /deployments", u.page(u.deployments))
	u.mux.HandleFunc("POST /deployments/{flow}/{name}/{verb}", u.form(u.pauseDeployment))
	u.mux.HandleFunc("GET /deployments/{flow}/{name}", u.page(u.deployment))
	u.mux.HandleFunc("GET /deployments/{flow}/{name}/run", u.page(u.runForm))
	u.mux.HandleFunc("POST /deployments/{flow}/{name}/run", u.form(u.createRun))
	u.mux.HandleFunc("GET /pools", u.page(u.pools))
	u.mux.HandleFunc("POST /pools/{pool}/{verb}", u.form(u.pausePool))
	u.mux.HandleFunc("GET /secrets", u.page(u.secrets))
	u.mux.HandleFunc("POST /secrets", u.form(u.setSecret))
	u.mux.HandleFunc("POST /secrets/{name}/delete", u.form(u.deleteSecret))
	u.mux.HandleFunc("GET /tokens", u.page(u.tokens))
	u.mux.HandleFunc("POST /tokens", u.form(u.createToken))
	u.mux.HandleFunc("POST /tokens/{id}/revoke", u.form(u.revokeToken))
}

// staticFiles serves the embedded static files with an ETag each (a
// hash of its content) and Cache-Control no-cache: a browser asks again
// at each page and gets 304 Not Modified while the file is the same,
// not Graphviz's 800 KB module again at each run's page. A browser that
// takes gzip gets the scripts and stylesheets compressed (each
// compressed once, at its first request, and kept): Graphviz's module
// 815 KB -> 632 KB, app.js 20 KB -> 7 KB.
func staticFiles(static fs.FS) http.Handler {
	type file struct {
		tag  string
		once sync.Once
		gz   []byte // nil: not worth it
	}
	byPath := map[string]*file{}
	fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := fs.ReadFile(static, p); err == nil {
				sum := sha256.Sum256(b)
				byPath[p] = &file{tag: hex.EncodeToString(sum[:12])}
			}
		}
		return nil
	})
	plain := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := byPath[r.URL.Path]
		if !ok {
			plain.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Add("Vary", "Accept-Encoding")
		ext := path.Ext(r.URL.Path)
		if (ext == ".js" || ext == ".css") && acceptsGzip(r) {
			f.once.Do(func() { f.gz = gzipped(static, r.URL.Path) })
			if f.gz != nil {
				w.Header().Set("ETag", `"`+f.tag+`-gz"`)
				w.Header().Set("Content-Encoding", "gzip")
				w.Header().Set("Content-Type", mime.TypeByExtension(ext))
				http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.gz))
				return
			}
		}
		w.Header().Set("ETag", `"`+f.tag+`"`)
		plain.ServeHTTP(w, r)
	})
}

// acceptsGzip tells whether r's Accept-Encoding names gzip (without
// q=0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(name) == "gzip" && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// gzipped is the static file p compressed, or nil when that saves less
// than a tenth.
func gzipped(static fs.FS, p string) []byte {
	b, err := fs.ReadFile(static, p)
	if err != nil {
		return nil
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	if zw.Close() != nil || buf.Len() > len(b)*9/10 {
		return nil
	}
	return buf.Bytes()
}
