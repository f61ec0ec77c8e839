package sqlite_test

import (
	"context"
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/store"
	"github.com/fluoro-dev/fluoro/internal/store/sqlite"
)

// TestChartDuringCompaction charts a series over and over while batches
// arrive and the compactor rewrites its chunks, so that cached summaries
// and block parts meet every generation change (run it with -race). Once
// the writes stop, the chart equals M4 over a scan.
func TestChartDuringCompaction(t *testing.T) {
	ctx := context.Background()
	db, run := sqlite.OpenWithRun(t, filepath.Join(t.TempDir(), "fluoro.db"))
	const batches, per = 40, 2000
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := db.Chart(ctx, run.PK, "loss", history.All, 400); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for b := 0; b < batches; b++ {
		var rows []history.Row
		for i := 0; i < per; i++ {
			// Every other batch rewrites the steps of an earlier one.
			step := int64(b*per + i)
			if b%2 == 1 {
				step = int64((b-1)*per + i)
			}
			rows = append(rows, history.Row{Step: step, Time: float64(step), Fields: []history.Field{
				{Key: "loss", Value: history.NumberValue(math.Sin(float64(step)/300) + float64(b))}}})
		}
		if _, err := db.ApplyBatches(ctx, []store.Batch{{RunPK: run.PK, ProjectPK: run.ProjectPK, Writer: "w", Seq: int64(b), History: rows}}); err != nil {
			t.Fatal(err)
		}
		if b%3 == 0 {
			if err := db.Settle(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	for _, settled := range []bool{false, true} {
		if settled {
			if err := db.Settle(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var pts []history.Point
		if err := db.Scan(ctx, run.PK, "loss", history.All, func(p history.Point) error {
			pts = append(pts, p)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		d := history.NewDownsampler(pts[0].Step, pts[len(pts)-1].Step, 400)
		for _, p := range pts {
			d.Add(p)
		}
		got, err := db.Chart(ctx, run.PK, "loss", history.All, 400)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d.Points(), got.Points); diff != "" {
			t.Errorf("settled %v: chart differs from M4 over a scan (-want +got):\n%s", settled, diff)
		}
	}
}
