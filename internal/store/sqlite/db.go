// Package sqlite is the embedded store backend: one SQLite database in WAL
// mode through the pure-Go modernc driver. Writes go through a single
// connection (SQLite has one writer anyway) with synchronous=FULL, so a
// committed transaction is on disk; reads use a separate pool.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fluoro-dev/fluoro/internal/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a Fluoro store in one SQLite file.
type DB struct {
	w      *sql.DB // the single writer connection
	r      *sql.DB // readers
	keys   keyCache
	fields fieldCache // run_fields rows known to be committed

	stmts    sync.Map   // SQL text → *sql.Stmt prepared on r
	gens     runGens    // changes of each run's chunks, for charts
	keyLists keyLists   // project key listings
	charts   chartCache // what charts read from chunks, by series

	compactStop chan struct{}
	compactDone chan struct{}
	compactMu   sync.Mutex // one compaction or sealing at a time: only they write chunks
}

// Options tune a DB.
type Options struct {
	// CompactEvery is how often the background compactor moves history
	// from the write log into chunks; 0 means 1 s, negative disables it
	// (tests call Compact). Reads merge the log, so this only trades write
	// amplification of open tail chunks against log length.
	CompactEvery time.Duration
	Log          *slog.Logger // nil discards
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed) the database at path, migrates it and
// starts the history compactor.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	// The file's own settings, in this order: page size and auto-vacuum
	// take effect only on a new database, before anything (WAL included)
	// writes its first page, and are no-ops afterwards. Pages of 8 KiB: a
	// cold chart reading thousands of history chunks (4-30 KiB each) makes
	// half the page reads of 4 KiB pages, for 7 % more file (W9: 2.88 →
	// 3.08 bytes a point; 16 KiB pages: 3.38, for a cold W6 chart 0.1 s
	// faster than 8 KiB's 0.85 s). Incremental
	// vacuum lets the compactor hand the write log's freed pages back to
	// the OS. (The driver runs DSN pragmas in name order, hence here.)
	for _, p := range []string{"page_size = 8192", "auto_vacuum = INCREMENTAL", "journal_mode = WAL"} {
		if _, err := w.ExecContext(ctx, "PRAGMA "+p); err != nil {
			w.Close()
			return nil, fmt.Errorf("open sqlite %s: pragma %s: %w", path, p, err)
		}
	}
	db := &DB{w: w}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	q.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db.r = r
	if opts.CompactEvery >= 0 {
		if opts.CompactEvery == 0 {
			opts.CompactEvery = time.Second
		}
		if opts.Log == nil {
			opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		db.compactStop, db.compactDone = make(chan struct{}), make(chan struct{})
		go db.runCompactor(opts.CompactEvery, opts.Log)
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error {
	if db.compactStop != nil {
		close(db.compactStop)
		<-db.compactDone
		db.compactStop = nil
	}
	// Leave a compact file behind: free pages go back to the OS.
	_, _ = db.w.Exec(`PRAGMA incremental_vacuum`)
	var errs []string
	db.stmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	if db.r != nil {
		if err := db.r.Close(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if err := db.w.Close(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("close sqlite: %s", strings.Join(errs, "; "))
	}
	return nil
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number: %w", base, err)
		}
		if err := db.applyMigration(ctx, v, name); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) applyMigration(ctx context.Context, version int, name string) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %d: begin: %w", version, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return fmt.Errorf("migration %d: check: %w", version, err)
	}
	if n > 0 {
		return nil
	}
	body, err := migrations.ReadFile(name)
	if err != nil {
		return fmt.Errorf("migration %d: read: %w", version, err)
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("migration %d: apply: %w", version, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, ms(time.Now())); err != nil {
		return fmt.Errorf("migration %d: record: %w", version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %d: commit: %w", version, err)
	}
	return nil
}

// ms converts a time to unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts unix milliseconds to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func now(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// SettingOrInit implements store.Settings.
func (db *DB) SettingOrInit(ctx context.Context, key string, init []byte) ([]byte, error) {
	if _, err := db.w.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, init); err != nil {
		return nil, fmt.Errorf("init setting %s: %w", key, err)
	}
	var v []byte
	if err := db.w.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v); err != nil {
		return nil, fmt.Errorf("read setting %s: %w", key, err)
	}
	return v, nil
}
