// Package web serves Fluoro's browser dashboard: the single-page app built
// from web/ by `make build` and embedded here with go:embed, plus the login
// link (/?token=KEY) that turns an API key into a session cookie.
//
// A build without Node (plain `go build`) embeds only dist/.gitkeep; the
// handler then serves a page saying how to build the UI, so the server and
// its API work either way.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/fluoro-dev/fluoro/internal/auth"
	"github.com/fluoro-dev/fluoro/internal/store"
)

//go:embed all:dist
var dist embed.FS

// Login resolves an API key to its user.
type Login interface {
	UserByKey(ctx context.Context, key string) (store.User, error)
}

// Handler serves the dashboard.
type Handler struct {
	files    fs.FS
	index    []byte // nil when the UI was not built into this binary
	login    Login
	sessions *auth.Sessions
	version  string
}

// New returns the dashboard handler. Version appears on the placeholder page.
func New(login Login, sessions *auth.Sessions, version string) *Handler {
	sub, _ := fs.Sub(dist, "dist")
	h := &Handler{files: sub, login: login, sessions: sessions, version: version}
	if b, err := fs.ReadFile(sub, "index.html"); err == nil {
		h.index = b
	}
	return h
}

// Built reports whether the UI is embedded (false: placeholder page).
func (h *Handler) Built() bool { return h.index != nil }

// reserved are paths the server answers itself; the SPA must never shadow
// them, even if a route is mounted in the wrong order.
var reserved = []string{"/api/", "/healthz", "/readyz", "/metrics"}

// ServeHTTP serves static assets, the login link, and index.html for every
// other path (the app routes /, /{entity}/{project}, .../runs/{id}).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for _, p := range reserved {
		if r.URL.Path == strings.TrimSuffix(p, "/") || strings.HasPrefix(r.URL.Path, p) {
			http.NotFound(w, r)
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Query().Has("token") {
		h.tokenLogin(w, r)
		return
	}
	if r.URL.Path == "/logout" {
		auth.ClearCookie(w)
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/assets/") || path.Ext(r.URL.Path) != "" && r.URL.Path != "/index.html" {
		h.asset(w, r)
		return
	}
	h.serveIndex(w, r, http.StatusOK)
}

// tokenLogin checks ?token=KEY, sets the session cookie and redirects to the
// same URL without the token, so the key stays out of history and bookmarks.
func (h *Handler) tokenLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	q := r.URL.Query()
	key := q.Get("token")
	q.Del("token")
	u, err := h.login.UserByKey(r.Context(), key)
	if err != nil || h.sessions == nil {
		msg := "This login link is not valid: use the link the server printed at start, or the key in <data>/admin-api-key."
		if !errors.Is(err, auth.ErrUnauthenticated) && err != nil {
			msg = "Login failed; try again."
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(msg + "\n"))
		return
	}
	h.sessions.SetCookie(w, r, u.ID)
	target := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
}

func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	b, err := fs.ReadFile(h.files, name)
	if err != nil || name == ".gitkeep" {
		http.NotFound(w, r)
		return
	}
	if strings.HasPrefix(name, "assets/") {
		// Vite puts a content hash in every asset name.
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if h.index != nil {
		_, _ = w.Write(h.index)
		return
	}
	_ = placeholder.Execute(w, map[string]string{"Version": h.version})
}

var placeholder = template.Must(template.New("placeholder").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fluoro</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:4rem auto;padding:0 1rem}code{background:#8882;padding:.1em .3em}</style>
</head><body>
<h1>Fluoro {{.Version}}</h1>
<p>The tracking server is running, but the web UI isn't built into this binary.
Build it with <code>make build</code> (needs Node 20 and npm), which bundles <code>web/</code> and embeds it.</p>
<p>The API works either way: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.
Health: <a href="/healthz">/healthz</a> · Metrics (API key required): <code>/metrics</code></p>
</body></html>`))
