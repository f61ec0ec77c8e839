package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
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

// TestKeyTypeBackfill checks migration 3 on data written before it: the
// value row at the highest step gives a key its type, unless numeric
// chunks reach past it.
func TestKeyTypeBackfill(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fluoro.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{CompactEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.CreateUser(ctx, store.User{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateEntity(ctx, store.Entity{Name: "alice", Kind: "user", OwnerUserID: u.ID}); err != nil {
		t.Fatal(err)
	}
	run, _, err := db.UpsertRun(ctx, store.RunSpec{RunKey: store.RunKey{Entity: "alice", Project: "p", RunID: "r1"}, Resume: store.ResumeAllow})
	if err != nil {
		t.Fatal(err)
	}
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
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP INDEX metric_keys_typed`, `DELETE FROM schema_migrations WHERE version = 4`, `ALTER TABLE run_keys DROP COLUMN type`, `ALTER TABLE metric_keys DROP COLUMN type`, `DELETE FROM schema_migrations WHERE version = 3`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	db, err = sqlite.Open(ctx, path, sqlite.Options{CompactEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
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
