package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// TestIngestDuringCompaction ingests between a compaction's read and its
// write (while it would encode): the batch commits without waiting for the
// compaction, and afterwards every point is there once, the newer value
// winning at a step both wrote.
func TestIngestDuringCompaction(t *testing.T) {
	ctx := context.Background()
	db, run := OpenWithRun(t, filepath.Join(t.TempDir(), "f.db"))
	batch := func(seq int64, lo, hi int, v float64) store.Batch {
		var rows []history.Row
		for st := lo; st < hi; st++ {
			rows = append(rows, history.Row{Step: int64(st), Time: float64(st), Fields: []history.Field{{Key: "loss", Value: history.NumberValue(v + float64(st))}}})
		}
		return store.Batch{RunPK: run.PK, ProjectPK: run.ProjectPK, Writer: "w", Seq: seq, History: rows}
	}
	if _, err := db.ApplyBatches(ctx, []store.Batch{batch(1, 0, 6000, 0)}); err != nil {
		t.Fatal(err)
	}
	db.compactMu.Lock()
	work, lastID, moved, err := db.readCompaction(ctx)
	if err != nil || lastID < 0 || moved != 6000 {
		t.Fatalf("read: %v last=%d moved=%d", err, lastID, moved)
	}
	// The writer is free: a batch commits now (steps 5990-6009: ten of them rewrite compacted steps).
	done := make(chan error, 1)
	go func() {
		_, err := db.ApplyBatches(ctx, []store.Batch{batch(2, 5990, 6010, 1000)})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ingest waited for the compaction")
	}
	if err := rechunkAll(work); err != nil {
		t.Fatal(err)
	}
	if err := db.writeCompaction(ctx, work, lastID); err != nil {
		t.Fatal(err)
	}
	db.compactMu.Unlock()
	check := func(when string) {
		t.Helper()
		got := map[int64]float64{}
		n := 0
		if err := db.Scan(ctx, run.PK, "loss", history.All, func(p history.Point) error {
			got[p.Step] = p.Value.Num
			n++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if n != 6010 || len(got) != 6010 {
			t.Fatalf("%s: %d points over %d steps, want 6010", when, n, len(got))
		}
		for st := int64(0); st < 6010; st++ {
			want := float64(st)
			if st >= 5990 {
				want += 1000
			}
			if got[st] != want {
				t.Fatalf("%s: step %d = %v, want %v", when, st, got[st], want)
			}
		}
	}
	check("after the compaction")
	if err := db.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	check("settled")
	r, err := db.Run(ctx, run.RunKey)
	if err != nil || r.Points != 6010 {
		t.Errorf("run points = %d (%v), want 6010", r.Points, err)
	}
}

// TestDeleteWaitsForACompaction deletes a run while a compaction holds its
// points between read and write: the delete waits, the compaction's chunks
// go with the run, and none is left behind.
func TestDeleteWaitsForACompaction(t *testing.T) {
	ctx := context.Background()
	db, run := OpenWithRun(t, filepath.Join(t.TempDir(), "f.db"))
	var rows []history.Row
	for st := 0; st < 5000; st++ {
		rows = append(rows, history.Row{Step: int64(st), Time: float64(st), Fields: []history.Field{{Key: "loss", Value: history.NumberValue(float64(st))}}})
	}
	if _, err := db.ApplyBatches(ctx, []store.Batch{{RunPK: run.PK, ProjectPK: run.ProjectPK, Writer: "w", Seq: 1, History: rows}}); err != nil {
		t.Fatal(err)
	}
	db.compactMu.Lock()
	work, lastID, moved, err := db.readCompaction(ctx)
	if err != nil || moved != 5000 {
		t.Fatalf("read: %v moved=%d", err, moved)
	}
	deleted := make(chan error, 1)
	go func() {
		_, err := db.DeleteRun(ctx, run.RunKey, 1)
		deleted <- err
	}()
	select {
	case err := <-deleted:
		t.Fatalf("the delete did not wait for the compaction (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := rechunkAll(work); err != nil {
		t.Fatal(err)
	}
	if err := db.writeCompaction(ctx, work, lastID); err != nil {
		t.Fatal(err)
	}
	db.compactMu.Unlock()
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	var chunks, logRows int
	if err := db.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM hist_chunks WHERE run_id = ?), (SELECT count(*) FROM hist_log WHERE run_id = ?)`,
		run.PK, run.PK).Scan(&chunks, &logRows); err != nil {
		t.Fatal(err)
	}
	if chunks != 0 || logRows != 0 {
		t.Errorf("left behind: %d chunks, %d log rows", chunks, logRows)
	}
}
