package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/store"
	"github.com/fluoro-dev/fluoro/internal/store/sqlite"
	"github.com/fluoro-dev/fluoro/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, func() store.Store) {
		path := filepath.Join(t.TempDir(), "fluoro.db")
		open := func() store.Store {
			db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
		return open(), open
	})
}

func TestMigrationsAreIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fluoro.db")
	for i := 0; i < 2; i++ {
		db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		db.Close()
	}
}

// TestFileSettings: a new database gets 8 KiB pages, incremental
// auto-vacuum and WAL; one made with 4 KiB pages (by an older Fluoro) opens
// with its pages as they are.
func TestFileSettings(t *testing.T) {
	ctx := context.Background()
	settings := func(path string) (page, vacuum int, journal string) {
		t.Helper()
		c, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for q, dst := range map[string]any{"page_size": &page, "auto_vacuum": &vacuum, "journal_mode": &journal} {
			if err := c.QueryRow("PRAGMA " + q).Scan(dst); err != nil {
				t.Fatal(err)
			}
		}
		return page, vacuum, journal
	}
	fresh := filepath.Join(t.TempDir(), "fluoro.db")
	db, err := sqlite.Open(ctx, fresh, sqlite.Options{CompactEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if p, v, j := settings(fresh); p != 8192 || v != 2 || j != "wal" {
		t.Errorf("new database: page_size %d, auto_vacuum %d, journal %s; want 8192, 2 (incremental), wal", p, v, j)
	}

	old := filepath.Join(t.TempDir(), "fluoro.db")
	c, err := sql.Open("sqlite", "file:"+old)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"PRAGMA page_size = 4096", "PRAGMA auto_vacuum = INCREMENTAL", "PRAGMA journal_mode = WAL", "CREATE TABLE t (x)"} {
		if _, err := c.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	db, err = sqlite.Open(ctx, old, sqlite.Options{CompactEvery: -1})
	if err != nil {
		t.Fatalf("open a 4 KiB database: %v", err)
	}
	db.Close()
	if p, _, j := settings(old); p != 4096 || j != "wal" {
		t.Errorf("older database: page_size %d, journal %s; want 4096 kept, wal", p, j)
	}
}

// openWithRun opens a store at path (compactor off) holding run alice/p/r1.
func openWithRun(t *testing.T, path string) (*sqlite.DB, store.Run) {
	return sqlite.OpenWithRun(t, path)
}

// undoMigrations runs queries on the closed database at path (taking it back
// to an older schema), then opens it again, which migrates it forward.
func undoMigrations(t *testing.T, path string, queries ...string) *sqlite.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{CompactEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestKeyTypeBackfill checks migration 3 on data written before it: the
// value row at the highest step gives a key its type, unless numeric
// chunks reach past it.
func TestKeyTypeBackfill(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fluoro.db")
	db, run := openWithRun(t, path)
	str := func(s string) history.Value { return history.Value{Kind: history.String, Text: s} }
	js := func(s string) history.Value { return history.Value{Kind: history.JSON, Text: s} }
	rows := []history.Row{
		{Step: 0, Fields: []history.Field{{Key: "loss", Value: history.NumberValue(1)}, {Key: "img", Value: js(`{"_type":"image-file"}`)},
			{Key: "flip", Value: str("s")}, {Key: "flag", Value: history.Value{Kind: history.Bool, Num: 1}}, {Key: "arr", Value: js(`[1]`)}}},
		{Step: 1, Fields: []history.Field{{Key: "img", Value: js(`{"_type":"histogram"}`)}, {Key: "flip", Value: history.NumberValue(2)}}},
	}
	if _, err := db.ApplyBatches(ctx, []store.Batch{{RunPK: run.PK, ProjectPK: run.ProjectPK, Writer: "w", History: rows}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Back to the schema before migration 3 (and 4, which indexes its column).
	db = undoMigrations(t, path, `DROP INDEX metric_keys_typed`, `DELETE FROM schema_migrations WHERE version = 4`,
		`ALTER TABLE run_keys DROP COLUMN type`, `ALTER TABLE metric_keys DROP COLUMN type`, `DELETE FROM schema_migrations WHERE version = 3`)
	defer db.Close()
	want := map[string]string{"loss": "number", "img": "histogram", "flip": "number", "flag": "bool", "arr": "json"}
	ks, err := db.RunKeys(ctx, run.PK)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range ks {
		got[k.Key] = k.Type
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("run key types (-want +got):\n%s", diff)
	}
	pk, err := db.ProjectKeys(ctx, run.ProjectPK)
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]string{}
	for _, k := range pk {
		got[k.Key] = k.Type
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("project key types (-want +got):\n%s", diff)
	}
}

// TestChunksRowidMigration: chunks stored in the WITHOUT ROWID table of
// migrations 2-4 read back the same after migration 5 moves them into a
// rowid table with the key in an index.
func TestChunksRowidMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fluoro.db")
	db, run := openWithRun(t, path)
	var rows []history.Row
	for s := 0; s < 10_000; s++ {
		rows = append(rows, history.Row{Step: int64(s), Time: 1.7e9 + float64(s)/8, Fields: []history.Field{
			{Key: "loss", Value: history.NumberValue(1 / float64(s+1))}, {Key: "acc", Value: history.NumberValue(float64(s%100) / 100)}}})
	}
	if _, err := db.ApplyBatches(ctx, []store.Batch{{RunPK: run.PK, ProjectPK: run.ProjectPK, Writer: "w", History: rows}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	read := func(db *sqlite.DB) map[string][]history.Point {
		out := map[string][]history.Point{}
		for _, k := range []string{"loss", "acc"} {
			if err := db.Scan(ctx, run.PK, k, history.All, func(p history.Point) error {
				out[k] = append(out[k], p)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	want := read(db)
	if len(want["loss"]) != 10_000 {
		t.Fatalf("%d points before", len(want["loss"]))
	}
	db.Close()
	// Back to the table of migrations 2-4.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var chunks int
	for _, q := range []string{
		`CREATE TABLE old_chunks (run_id INTEGER NOT NULL, key_id INTEGER NOT NULL, min_step INTEGER NOT NULL,
			max_step INTEGER NOT NULL, count INTEGER NOT NULL, summaries BLOB NOT NULL, data BLOB NOT NULL,
			sealed INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (run_id, key_id, min_step)) WITHOUT ROWID`,
		`INSERT INTO old_chunks SELECT run_id, key_id, min_step, max_step, count, summaries, data, sealed FROM hist_chunks`,
		`DROP TABLE hist_chunks`,
		`ALTER TABLE old_chunks RENAME TO hist_chunks`,
		`CREATE INDEX hist_chunks_open ON hist_chunks (run_id) WHERE sealed = 0`,
		`DELETE FROM schema_migrations WHERE version = 5`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := raw.QueryRow(`SELECT count(*) FROM hist_chunks`).Scan(&chunks); err != nil || chunks < 4 {
		t.Fatalf("%d chunks (%v), want several", chunks, err)
	}
	raw.Close()
	db, err = sqlite.Open(ctx, path, sqlite.Options{CompactEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if diff := cmp.Diff(want, read(db)); diff != "" {
		t.Errorf("after migration 5 (-before +after):\n%s", diff)
	}
	raw, err = sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var ddl string
	if err := raw.QueryRow(`SELECT sql FROM sqlite_master WHERE name = 'hist_chunks'`).Scan(&ddl); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ddl, "WITHOUT ROWID") {
		t.Errorf("hist_chunks is still WITHOUT ROWID: %s", ddl)
	}
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM hist_chunks`).Scan(&n); err != nil || n != chunks {
		t.Errorf("%d chunks after (%v), want %d", n, err, chunks)
	}
}

// TestRunFieldsBackfill checks migration 6 on runs written before it: the
// backfill in SQL names the same config paths and summary keys as the
// store's own bookkeeping (store.ConfigPaths, store.SummaryPaths).
func TestRunFieldsBackfill(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fluoro.db")
	db, run := openWithRun(t, path)
	other, _, err := db.UpsertRun(ctx, store.RunSpec{RunKey: store.RunKey{Entity: "alice", Project: "q", RunID: "r2"}, Resume: store.ResumeAllow,
		Config: map[string]any{"other": map[string]any{"deep": map[string]any{"er": 1.0}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateRun(ctx, run.RunKey, store.RunUpdate{
		Config: map[string]any{
			"lr": 0.1, "opt": map[string]any{"name": "adam", "betas": []any{0.9, 0.99}, "x.y": map[string]any{"z": nil}},
			"img": map[string]any{"_type": "image-file"}, "typed_null": map[string]any{"_type": nil, "a": 1.0},
			"empty": map[string]any{}, "a.b": "s", "n": nil, "t": true, "arr": []any{map[string]any{"in": 1.0}},
			"ünï code": map[string]any{"k\"q": 1.0},
		},
		Summary: map[string]any{"val/loss": 0.5, "h": map[string]any{"_type": "histogram"}, "o": map[string]any{"x": 1.0}, "s": "str"},
	}); err != nil {
		t.Fatal(err)
	}
	want := map[int64]store.FieldPaths{}
	for _, pk := range []int64{run.ProjectPK, other.ProjectPK} {
		if want[pk], err = db.RunFieldPaths(ctx, pk, 100); err != nil {
			t.Fatal(err)
		}
	}
	if len(want[run.ProjectPK].Config) != 11 || len(want[run.ProjectPK].Summary) != 4 {
		t.Fatalf("before the backfill: %+v", want[run.ProjectPK])
	}
	db.Close()
	db = undoMigrations(t, path, `DROP TABLE run_fields`, `DELETE FROM schema_migrations WHERE version = 6`)
	defer db.Close()
	for pk, w := range want {
		got, err := db.RunFieldPaths(ctx, pk, 100)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("project %d after the backfill (-bookkept +backfilled):\n%s", pk, diff)
		}
	}
}
