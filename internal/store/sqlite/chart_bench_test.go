package sqlite_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/store"
	"github.com/fluoro-dev/fluoro/internal/store/sqlite"
)

// BenchmarkChartW6 charts one metric of many runs at 1,200 points over the
// full range, the server side of W6. FLUORO_W6_DB names a database written
// by bench/history (runs admin/bench/r000…, key "loss"), opened in place,
// or a path where one of 4 runs × 1M points is built first if missing;
// without it a small one is built (4 runs × 200k points). FLUORO_W6_ZOOM
// ("lo-hi") charts a step range instead of the full one.
func BenchmarkChartW6(b *testing.B) {
	ctx := context.Background()
	path := os.Getenv("FLUORO_W6_DB")
	entity, project := "admin", "bench"
	switch _, err := os.Stat(path); {
	case path == "":
		path = filepath.Join(b.TempDir(), "fluoro.db")
		buildW6(b, path, 4, 200_000)
	case err != nil:
		buildW6(b, path, 4, 1_000_000)
	}
	open := func() (*sqlite.DB, []store.Run) {
		db, err := sqlite.Open(ctx, path, sqlite.Options{CompactEvery: -1})
		if err != nil {
			b.Fatal(err)
		}
		var runs []store.Run
		for i := 0; ; i++ {
			r, err := db.Run(ctx, store.RunKey{Entity: entity, Project: project, RunID: fmt.Sprintf("r%03d", i)})
			if err != nil {
				break
			}
			runs = append(runs, r)
		}
		if len(runs) == 0 {
			b.Fatal("no runs")
		}
		return db, runs
	}
	rg := history.All
	if z := os.Getenv("FLUORO_W6_ZOOM"); z != "" { // e.g. 450000-549999
		if _, err := fmt.Sscanf(z, "%d-%d", &rg.Min, &rg.Max); err != nil {
			b.Fatal(err)
		}
	}
	chart := func(db *sqlite.DB, runs []store.Run) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4) // as the API's chartWorkers
		for _, r := range runs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if _, err := db.Chart(ctx, r.PK, "loss", rg, 1200); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	// Cold: a freshly opened store (the OS page cache stays warm).
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			db, runs := open()
			b.StartTimer()
			chart(db, runs)
			b.StopTimer()
			db.Close()
			b.StartTimer()
		}
	})
	b.Run("warm", func(b *testing.B) {
		db, runs := open()
		defer db.Close()
		chart(db, runs)
		for b.Loop() {
			chart(db, runs)
		}
	})
}

func buildW6(b *testing.B, path string, runs, steps int) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path, sqlite.Options{CompactEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	u, err := db.CreateUser(ctx, store.User{Name: "admin", Admin: true})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.CreateEntity(ctx, store.Entity{Name: "admin", Kind: "user", OwnerUserID: u.ID}); err != nil {
		b.Fatal(err)
	}
	for r := 0; r < runs; r++ {
		run, _, err := db.UpsertRun(ctx, store.RunSpec{RunKey: store.RunKey{Entity: "admin", Project: "bench", RunID: fmt.Sprintf("r%03d", r)}, Resume: store.ResumeAllow})
		if err != nil {
			b.Fatal(err)
		}
		for lo := 0; lo < steps; lo += 10000 {
			var rows []history.Row
			for st := lo; st < min(steps, lo+10000); st++ {
				rows = append(rows, history.Row{Step: int64(st), Time: 1.7e9 + float64(st)*0.05,
					Fields: []history.Field{{Key: "loss", Value: history.NumberValue(w6value(r, st))}}})
			}
			if _, err := db.ApplyBatches(ctx, []store.Batch{{RunPK: run.PK, ProjectPK: run.ProjectPK, Writer: "w", Seq: int64(lo), History: rows}}); err != nil {
				b.Fatal(err)
			}
		}
		if err := db.Settle(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// w6value is bench/history's W6 series.
func w6value(run, step int) float64 {
	h := uint64(run)*0x9E3779B97F4A7C15 ^ uint64(step)*0xBF58476D1CE4E5B9
	h ^= h >> 31
	noise := float64(h%10000)/10000 - 0.5
	v := 2*math.Exp(-float64(step)/300000) + 0.1*noise
	if h%100003 == 7 {
		v += 50
	}
	return v
}
