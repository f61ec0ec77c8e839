package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// BenchmarkKeys lists the keys of a project with 1M keys and of one of its
// runs with 100k (bench/stress's wide project), and charts one of them.
// FLUORO_KEYS_DB names a database to build once and reuse.
func BenchmarkKeys(b *testing.B) {
	ctx := context.Background()
	path := os.Getenv("FLUORO_KEYS_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "fluoro.db")
	}
	_, statErr := os.Stat(path)
	db, err := Open(ctx, path, Options{CompactEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	key := store.RunKey{Entity: "admin", Project: "wide", RunID: "wide0000"}
	if statErr != nil {
		u, err := db.CreateUser(ctx, store.User{Name: "admin", Admin: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.CreateEntity(ctx, store.Entity{Name: "admin", Kind: "user", OwnerUserID: u.ID}); err != nil {
			b.Fatal(err)
		}
		run, _, err := db.UpsertRun(ctx, store.RunSpec{RunKey: key, Resume: store.ResumeAllow})
		if err != nil {
			b.Fatal(err)
		}
		// Keys as the stress test names them; the run holds the first 100k.
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 999999)
				INSERT INTO metric_keys (project_id, name) SELECT ?, printf('layer_%07d/grad_norm', x) FROM c`, []any{run.ProjectPK}},
			{`INSERT INTO run_keys (run_id, key_id, points, min_step, max_step) SELECT ?, id, 1, 0, 0 FROM metric_keys
				WHERE project_id = ? ORDER BY id LIMIT 100000`, []any{run.PK, run.ProjectPK}},
		} {
			if _, err := db.w.ExecContext(ctx, q.sql, q.args...); err != nil {
				b.Fatal(err)
			}
		}
	}
	run, err := db.Run(ctx, key)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("project", func(b *testing.B) {
		for b.Loop() {
			db.keyLists = keyLists{} // the SQL path, not the kept list
			ks, err := db.ProjectKeys(ctx, run.ProjectPK)
			if err != nil || len(ks) != 1_000_000 {
				b.Fatal(len(ks), err)
			}
		}
	})
	b.Run("project-again", func(b *testing.B) {
		for b.Loop() {
			ks, err := db.ProjectKeys(ctx, run.ProjectPK)
			if err != nil || len(ks) != 1_000_000 {
				b.Fatal(len(ks), err)
			}
		}
	})
	b.Run("run", func(b *testing.B) {
		for b.Loop() {
			ks, err := db.RunKeys(ctx, run.PK)
			if err != nil || len(ks) != 100_000 {
				b.Fatal(len(ks), err)
			}
		}
	})
	b.Run("chart", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.Chart(ctx, run.PK, "layer_0099999/grad_norm", history.All, 100); err != nil {
				b.Fatal(err)
			}
		}
	})
}
