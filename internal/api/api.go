// Package api serves Fluoro's native HTTP API under /api/v1: runs and their
// metadata, batched ingest, history queries, console, system samples, files
// and live Server-Sent Events. Routes are declared in one table that also
// generates the OpenAPI document, so the spec cannot miss a route.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fluoro-dev/fluoro/internal/auth"
	"github.com/fluoro-dev/fluoro/internal/blob"
	"github.com/fluoro-dev/fluoro/internal/ingest"
	"github.com/fluoro-dev/fluoro/internal/live"
	"github.com/fluoro-dev/fluoro/internal/notify"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// Observer records request metrics.
type Observer interface {
	ObserveRequest(route string, code int, took time.Duration)
	// ObserveOp records a run create, update or finish: event is the live
	// event it publishes (or would have), outcome "applied" or "duplicate"
	// (a spooled op replayed, which changed nothing).
	ObserveOp(event, outcome string)
	// ObserveAlert records an alert stored "suppressed" (a repeat of its
	// title within its wait).
	ObserveAlert(outcome string)
}

// AlertSink delivers run alerts (the alert webhook); Send never blocks.
type AlertSink interface {
	Send(a notify.Alert) bool
}

// Deps are what the API needs.
type Deps struct {
	Store     store.Store
	Blobs     blob.Store
	Committer *ingest.Committer
	Hub       *live.Hub
	Observer  Observer  // may be nil
	Alerts    AlertSink // may be nil: alerts are stored and shown, not sent
	// BlobLock orders filing an upload's blob and storing its row (readers)
	// against removing blobs no file uses (writers: run deletion, the blob
	// collector). Nil: the API's own.
	BlobLock   *sync.RWMutex
	SigningKey []byte         // HMAC key for signed file URLs
	Sessions   *auth.Sessions // browser session cookies; nil: API keys only
	MaxBody    int64          // largest request body (default 32 MiB)
	MaxFile    int64          // largest run file upload (default 5 GiB)
	Log        *slog.Logger
	Now        func() time.Time // defaults to time.Now
}

// API is the HTTP API.
type API struct {
	d      Deps
	auth   *auth.Authenticator
	routes []route
	mux    *http.ServeMux

	userMu    sync.Mutex
	userNames map[int64]string

	stopOnce sync.Once
	stopping chan struct{} // closed when the server shuts down: ends streams
}

// StopStreams ends every open event stream; http.Server.Shutdown waits for
// idle connections, which a stream never becomes on its own.
func (a *API) StopStreams() { a.stopOnce.Do(func() { close(a.stopping) }) }

// handlerFunc is an API handler; a returned error becomes the response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

type route struct {
	Method  string
	Path    string
	Summary string
	Public  bool    // no API key needed
	Query   []param // query parameters, for the spec
	Header  []param // request headers, for the spec
	Body    string  // request schema name, for the spec
	Resp    string  // response schema name, for the spec
	RespCT  string  // response content type when not JSON
	Status  int     // success status (default 200)
	Large   bool    // body limited by MaxFile rather than MaxBody (run file uploads)
	OpID    string  // operationId when the generated one would repeat another's
	h       handlerFunc
}

type param struct {
	Name, Type, Desc string
}

// New builds the API.
func New(d Deps) *API {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.MaxBody <= 0 {
		d.MaxBody = 32 << 20
	}
	if d.MaxFile <= 0 {
		d.MaxFile = 5 << 30
	}
	if d.BlobLock == nil {
		d.BlobLock = &sync.RWMutex{}
	}
	a := &API{d: d, auth: &auth.Authenticator{Users: d.Store, Sessions: d.Sessions}, userNames: map[int64]string{}, stopping: make(chan struct{})}
	a.routes = a.table()
	a.mux = http.NewServeMux()
	for _, rt := range a.routes {
		a.mux.Handle(rt.Method+" "+rt.Path, a.wrap(rt))
	}
	a.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, a.d.Log, errorf(http.StatusNotFound, CodeNotFound, "no API route %s %s; see /api/v1/openapi.json", r.Method, r.URL.Path))
	})
	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// statusWriter remembers the status for metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush for SSE.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (a *API) wrap(rt route) http.Handler {
	pattern := rt.Method + " " + rt.Path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if a.d.Observer != nil {
				code := sw.status
				if code == 0 {
					code = http.StatusOK
				}
				a.d.Observer.ObserveRequest(pattern, code, time.Since(start))
			}
		}()
		limit := a.d.MaxBody
		if rt.Large {
			limit = a.d.MaxFile
		}
		r.Body = http.MaxBytesReader(sw, r.Body, limit)
		if !rt.Public {
			// An API key, or the web UI's session cookie (with a CSRF check
			// on anything that changes state).
			u, err := a.auth.Authenticate(r.Context(), r)
			if errors.Is(err, auth.ErrCSRF) {
				err = errorf(http.StatusForbidden, CodeForbidden, "%s", err)
			}
			if err != nil {
				writeError(sw, r, a.d.Log, err)
				return
			}
			r = r.WithContext(auth.WithUser(r.Context(), u))
		}
		if err := rt.h(sw, r); err != nil {
			writeError(sw, r, a.d.Log, err)
		}
	})
}

// decodeBody decodes a JSON request body strictly.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return badData("empty body: send a JSON object")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return badData("malformed JSON at byte %d: %v", se.Offset, se)
		case errors.As(err, &te):
			return badData("field %q must be %s, not %s", te.Field, te.Type, te.Value)
		}
		return badData("malformed JSON: %v", err)
	}
	if dec.More() {
		return badData("trailing data after the JSON object")
	}
	return nil
}

// userName returns a user's name, cached.
func (a *API) userName(ctx context.Context, id int64) string {
	a.userMu.Lock()
	n, ok := a.userNames[id]
	a.userMu.Unlock()
	if ok {
		return n
	}
	u, err := a.d.Store.UserByID(ctx, id)
	if err != nil {
		return ""
	}
	a.userMu.Lock()
	a.userNames[id] = u.Name
	a.userMu.Unlock()
	return u.Name
}

// entity loads the {entity} of the request and checks the caller may use it.
func (a *API) entity(r *http.Request) (store.Entity, error) {
	name := r.PathValue("entity")
	e, err := a.d.Store.EntityByName(r.Context(), name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return e, errorf(http.StatusNotFound, CodeNotFound, "entity %q not found", name)
		}
		return e, err
	}
	u, _ := auth.UserFrom(r.Context())
	if !auth.CanAccess(u, e) {
		return e, errorf(http.StatusForbidden, CodeForbidden, "user %q may not access entity %q", u.Name, name)
	}
	return e, nil
}

// project loads {entity}/{project} after the access check.
func (a *API) project(r *http.Request) (store.Project, error) {
	if _, err := a.entity(r); err != nil {
		return store.Project{}, err
	}
	p, err := a.d.Store.ProjectByName(r.Context(), r.PathValue("entity"), r.PathValue("project"))
	if errors.Is(err, store.ErrNotFound) {
		return p, errorf(http.StatusNotFound, CodeNotFound, "project %s/%s not found", r.PathValue("entity"), r.PathValue("project"))
	}
	return p, err
}

func runKey(r *http.Request) store.RunKey {
	return store.RunKey{Entity: r.PathValue("entity"), Project: r.PathValue("project"), RunID: r.PathValue("run")}
}

// run loads {entity}/{project}/{run} after the access check.
func (a *API) run(r *http.Request) (store.Run, error) {
	if _, err := a.entity(r); err != nil {
		return store.Run{}, err
	}
	key := runKey(r)
	run, err := a.d.Store.Run(r.Context(), key)
	if errors.Is(err, store.ErrNotFound) {
		return run, errorf(http.StatusNotFound, CodeNotFound, "run %s not found", key)
	}
	return run, err
}

func (a *API) now() time.Time { return a.d.Now().UTC() }

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func fmtTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := fmtTime(*t)
	return &s
}
