// Package server wires Fluoro together: a Server is built from a Config with
// New, serves until its context ends with Run, and releases everything with
// Close. There is no global state; two Servers can run in one process.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fluoro-dev/fluoro/internal/api"
	"github.com/fluoro-dev/fluoro/internal/auth"
	"github.com/fluoro-dev/fluoro/internal/blob"
	"github.com/fluoro-dev/fluoro/internal/blob/localdir"
	"github.com/fluoro-dev/fluoro/internal/blobgc"
	"github.com/fluoro-dev/fluoro/internal/config"
	"github.com/fluoro-dev/fluoro/internal/ingest"
	"github.com/fluoro-dev/fluoro/internal/live"
	"github.com/fluoro-dev/fluoro/internal/metrics"
	"github.com/fluoro-dev/fluoro/internal/notify"
	"github.com/fluoro-dev/fluoro/internal/store"
	"github.com/fluoro-dev/fluoro/internal/store/sqlite"
	"github.com/fluoro-dev/fluoro/internal/version"
	"github.com/fluoro-dev/fluoro/internal/web"
)

// AdminKeyFile is the file under the data directory that holds the admin
// API key created at first start.
const AdminKeyFile = "admin-api-key"

// Server is a running Fluoro instance.
type Server struct {
	cfg       config.Config
	log       *slog.Logger
	out       io.Writer // where the start-up banner goes
	store     store.Store
	blobs     blob.Store
	committer *ingest.Committer
	hub       *live.Hub
	alerts    *notify.Webhook // nil without an alert webhook
	blobLock  sync.RWMutex    // uploads (readers) against blob removal (writers)
	metrics   *metrics.Metrics
	api       *api.API
	sessions  *auth.Sessions // browser login cookies
	handler   http.Handler
	adminKey  string // known admin key for the login link, if any
}

// New opens the stores and prepares the server. Banner lines (the URL and
// login link) go to out; logs go to log.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) (*Server, error) {
	s := &Server{cfg: cfg, log: log, out: out}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	_, dbPath, err := config.ParseStoreURL(cfg.DB)
	if err != nil {
		return nil, err
	}
	if s.store, err = sqlite.Open(ctx, dbPath, sqlite.Options{Log: log}); err != nil {
		return nil, err
	}
	_, blobDir, err := config.ParseStoreURL(cfg.Blobs)
	if err != nil {
		s.store.Close()
		return nil, err
	}
	if s.blobs, err = localdir.Open(blobDir); err != nil {
		s.store.Close()
		return nil, err
	}
	if err := s.bootstrap(ctx); err != nil {
		s.Close()
		return nil, err
	}
	signing, err := s.store.SettingOrInit(ctx, "url_signing_key", randomBytes(32))
	if err != nil {
		s.Close()
		return nil, err
	}
	// The session-cookie key is derived from the same stored secret, so a
	// restart keeps browsers logged in without another setting.
	s.sessions = auth.NewSessions(signing)
	s.hub = live.NewHub(8192)
	s.metrics = metrics.New(s.hub.Subscribers)
	s.committer = ingest.NewCommitter(s.store, ingest.Options{Observer: s.metrics})
	var sink api.AlertSink
	if cfg.AlertHook != "" {
		if s.alerts, err = notify.New(cfg.AlertHook, notify.Options{PublicURL: cfg.PublicURL, Log: log, Observe: s.metrics.ObserveAlert}); err != nil {
			s.Close()
			return nil, err
		}
		sink = s.alerts
	}
	s.api = api.New(api.Deps{
		Store: s.store, Blobs: s.blobs, Committer: s.committer, Hub: s.hub, Observer: s.metrics, Alerts: sink, BlobLock: &s.blobLock,
		SigningKey: signing, Sessions: s.sessions, MaxBody: cfg.MaxBody, MaxFile: cfg.MaxFile, Log: log,
	})
	s.handler = s.routes()
	return s, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // the OS has no entropy: nothing is safe
	}
	return b
}

// bootstrap creates the admin user, its entity and API key at first start,
// and registers a preset key (FLUORO_ADMIN_API_KEY) on later starts.
func (s *Server) bootstrap(ctx context.Context) error {
	keyPath := filepath.Join(s.cfg.Data, AdminKeyFile)
	if s.cfg.AdminAPIKey != "" {
		if err := auth.ValidKey(s.cfg.AdminAPIKey); err != nil {
			return fmt.Errorf("FLUORO_ADMIN_API_KEY: %w", err)
		}
		if err := auth.WandbAccepts(s.cfg.AdminAPIKey); err != nil {
			s.log.Warn("FLUORO_ADMIN_API_KEY works with Fluoro's API and SDK, but the official wandb client will refuse it", "why", err)
		}
	}
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		if !store.ValidName(s.cfg.AdminUser) {
			return fmt.Errorf("admin-user %q: use 1-128 letters, digits, '_', '-', '.'", s.cfg.AdminUser)
		}
		u, err := s.store.CreateUser(ctx, store.User{Name: s.cfg.AdminUser, Admin: true})
		if err != nil {
			return fmt.Errorf("create admin user: %w", err)
		}
		if _, err := s.store.CreateEntity(ctx, store.Entity{Name: u.Name, Kind: "user", OwnerUserID: u.ID}); err != nil {
			return fmt.Errorf("create admin entity: %w", err)
		}
		key := s.cfg.AdminAPIKey
		if key == "" {
			if key, err = auth.NewKey(); err != nil {
				return err
			}
		}
		if err := s.store.AddAPIKey(ctx, u.ID, "admin (first start)", auth.Hash(key), auth.Prefix(key)); err != nil {
			return err
		}
		if err := os.WriteFile(keyPath, []byte(key+"\n"), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", keyPath, err)
		}
		s.log.Info("created admin user and API key", "user", u.Name, "key_file", keyPath)
		s.adminKey = key
		return nil
	}
	if key := s.cfg.AdminAPIKey; key != "" {
		if _, err := s.store.UserByAPIKeyHash(ctx, auth.Hash(key)); errors.Is(err, store.ErrNotFound) {
			u, err := s.store.UserByName(ctx, s.cfg.AdminUser)
			if err != nil {
				return fmt.Errorf("preset admin key: %w", err)
			}
			if err := s.store.AddAPIKey(ctx, u.ID, "admin (FLUORO_ADMIN_API_KEY)", auth.Hash(key), auth.Prefix(key)); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		s.adminKey = key
		return nil
	}
	// Show the login link again if the first-start key is still valid.
	if b, err := os.ReadFile(keyPath); err == nil {
		key := strings.TrimSpace(string(b))
		if _, err := s.store.UserByAPIKeyHash(ctx, auth.Hash(key)); err == nil {
			s.adminKey = key
		}
	}
	return nil
}

// Handler returns the server's HTTP handler (for tests).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", s.api)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if _, err := s.store.CountUsers(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "store unavailable\n")
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	authn := &auth.Authenticator{Users: s.store, Sessions: s.sessions}
	mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authn.Authenticate(r.Context(), r); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fluoro"`)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		s.metrics.Handler().ServeHTTP(w, r)
	}))
	// Everything else is the web UI: assets, the ?token= login link, and
	// index.html for the app's own paths. The patterns above are more
	// specific, so the UI never shadows the API, health or metrics.
	mux.Handle("/", web.New(authn, s.sessions, version.String()))
	return mux
}

// Run listens on the configured address and serves until ctx is done, then
// shuts down gracefully: it stops accepting, lets in-flight requests
// (and their batches) finish, and commits what is queued.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(s.api.StopStreams)
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(s.out, "Fluoro %s listening on %s\n", version.String(), base)
	if s.adminKey != "" {
		fmt.Fprintf(s.out, "Log in: %s/?token=%s\n", base, s.adminKey)
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "data", s.cfg.Data)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if s.cfg.BlobGC > 0 {
		gcCtx, stopGC := context.WithCancel(ctx)
		defer stopGC()
		go s.collectBlobs(gcCtx, s.cfg.BlobGC)
	}
	if s.cfg.LostAfter > 0 {
		lostCtx, stopLost := context.WithCancel(ctx)
		defer stopLost()
		go s.markLost(lostCtx, s.cfg.LostAfter)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// every calls fn each interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// collectBlobs deletes unused blobs every interval until ctx ends.
func (s *Server) collectBlobs(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() {
		start := time.Now()
		st, err := s.CollectBlobs(ctx, start)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("blob gc", "err", err, "deleted", st.Deleted)
			return
		}
		s.log.Info("blob gc", "scanned", st.Scanned, "deleted", st.Deleted, "bytes", st.Bytes, "took", time.Since(start).Round(time.Millisecond))
	})
}

// markLost marks the runs silent for after as lost, checking every quarter
// of it (at most every 30 s), until ctx ends.
func (s *Server) markLost(ctx context.Context, after time.Duration) {
	every(ctx, min(after/4, 30*time.Second), func() {
		if _, err := s.MarkLost(ctx, time.Now(), after); err != nil && ctx.Err() == nil {
			s.log.Warn("mark lost runs", "err", err)
		}
	})
}

// MarkLost marks the running runs that have sent nothing for after as
// lost, as of now, and announces each (a run.updated event).
func (s *Server) MarkLost(ctx context.Context, now time.Time, after time.Duration) (int, error) {
	runs, err := s.store.MarkLost(ctx, now.Add(-after), now)
	for _, r := range runs {
		s.log.Info("run lost", "run", r.RunKey.String(), "silent_for", now.Sub(r.HeartbeatAt).Round(time.Second))
		s.api.RunChanged(r)
	}
	return len(runs), err
}

// CollectBlobs deletes the blobs no run file uses, as of now (blobs
// written within the collector's grace before now are kept).
func (s *Server) CollectBlobs(ctx context.Context, now time.Time) (blobgc.Stats, error) {
	st, err := blobgc.Collect(ctx, s.store, s.blobs, blobgc.Options{Lock: &s.blobLock, Log: s.log, Now: func() time.Time { return now }})
	s.metrics.BlobsCollected(st.Deleted, st.Bytes)
	return st, err
}

// Close commits queued batches and closes the stores.
func (s *Server) Close() error {
	if s.alerts != nil {
		s.alerts.Close(2 * time.Second)
	}
	if s.committer != nil {
		s.committer.Close()
	}
	var errs []error
	if s.blobs != nil {
		errs = append(errs, s.blobs.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}
