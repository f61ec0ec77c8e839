package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkRunFields lists the config paths and summary keys of a project
// of 10k runs, each with 50 config leaves (10 top-level, 40 in 8 nested
// groups, 5 of them varying over 1000 names) and 20 summary keys: from
// run_fields (what the API serves), and, for comparison, by walking every
// run's JSON at read time (json_tree, and the json_each recursion that
// names paths as the UI does), and the backfill of migration 6.
func BenchmarkRunFields(b *testing.B) {
	ctx := context.Background()
	db, first := OpenWithRun(b, filepath.Join(b.TempDir(), "fluoro.db"))
	project := first.ProjectPK
	const runs = 10_000
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 1; i <= runs; i++ {
		cfg := map[string]any{}
		for k := range 10 {
			cfg[fmt.Sprintf("param_%d", k)] = float64(i * k)
		}
		for g := range 8 {
			grp := map[string]any{}
			for k := range 5 {
				name := fmt.Sprintf("opt_%d", k)
				if g == 7 {
					name = fmt.Sprintf("var_%d", (i+k*200)%1000) // sweeps add keys
				}
				grp[name] = "x"
			}
			cfg[fmt.Sprintf("group_%d", g)] = grp
		}
		sum := map[string]any{}
		for k := range 20 {
			sum[fmt.Sprintf("val/metric_%d", k)] = float64(i)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO runs (project_id, run_id, name, state, config, summary, created_at, updated_at, heartbeat_at)
			VALUES (?, ?, ?, 'finished', jsonb(?), jsonb(?), ?, ?, ?)`, project, fmt.Sprintf("b%d", i), "run", mustJSON(cfg), mustJSON(sum), i, i, i); err != nil {
			b.Fatal(err)
		}
		if _, err := addFields(ctx, tx, &fieldCache{}, project, cfg, sum); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	const wantConfig, wantSummary = 10 + 7*5 + 1000, 20
	b.Run("table", func(b *testing.B) {
		for b.Loop() {
			fp, err := db.RunFieldPaths(ctx, project, 10_000)
			if err != nil || len(fp.Config) != wantConfig || len(fp.Summary) != wantSummary {
				b.Fatal(len(fp.Config), len(fp.Summary), err)
			}
		}
	})
	count := func(b *testing.B, q string, want int) {
		for b.Loop() {
			var n int
			if err := db.r.QueryRowContext(ctx, q, project).Scan(&n); err != nil || n != want {
				b.Fatal(n, err)
			}
		}
	}
	b.Run("json_tree", func(b *testing.B) {
		// The cheapest form (fullkey quotes odd keys, arrays are walked): a lower bound.
		count(b, `SELECT count(DISTINCT j.fullkey) FROM runs r, json_tree(r.config) j WHERE r.project_id = ? AND j.atom IS NOT NULL`, wantConfig)
	})
	b.Run("json_each_recursive", func(b *testing.B) {
		count(b, `WITH RECURSIVE node(path, value, type) AS (
			SELECT j.key, j.value, j.type FROM runs r, json_each(r.config) j WHERE r.project_id = ?
			UNION ALL
			SELECT n.path || '.' || j.key, j.value, j.type FROM node n, json_each(n.value) j
			WHERE n.type = 'object' AND json_type(n.value, '$._type') IS NULL)
			SELECT count(DISTINCT path) FROM node WHERE type != 'object' OR json_type(value, '$._type') IS NOT NULL`, wantConfig)
	})
	body, err := migrations.ReadFile("migrations/0006_run_fields.sql")
	if err != nil {
		b.Fatal(err)
	}
	backfill := string(body)[strings.Index(string(body), "WITH RECURSIVE"):]
	b.Run("backfill", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.w.ExecContext(ctx, `DELETE FROM run_fields`); err != nil {
				b.Fatal(err)
			}
			if _, err := db.w.ExecContext(ctx, backfill); err != nil {
				b.Fatal(err)
			}
		}
	})
}
