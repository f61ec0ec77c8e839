package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

// TestFieldCacheLearnsOnlyCommittedRows: a row written by a transaction that
// rolls back is written again by the next one, and a committed row is not
// written again (the cache that keeps ingest from re-inserting a summary's
// keys with every batch).
func TestFieldCacheLearnsOnlyCommittedRows(t *testing.T) {
	ctx := context.Background()
	db, run := OpenWithRun(t, filepath.Join(t.TempDir(), "fluoro.db"))
	sum := map[string]any{"loss": 1.0}
	write := func(commit bool) []fieldRow {
		t.Helper()
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		wrote, err := addFields(ctx, tx, &db.fields, run.ProjectPK, nil, sum)
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			db.fields.addAll(wrote)
		}
		return wrote
	}
	want := []fieldRow{{run.ProjectPK, fieldSummary, "loss"}}
	if got := write(false); !slices.Equal(got, want) {
		t.Fatalf("rolled back: wrote %v, want %v", got, want)
	}
	if got := write(true); !slices.Equal(got, want) {
		t.Fatalf("after a rollback: wrote %v, want %v again", got, want)
	}
	if got := write(true); len(got) != 0 {
		t.Fatalf("after a commit: wrote %v, want nothing (cached)", got)
	}
	fp, err := db.RunFieldPaths(ctx, run.ProjectPK, 10)
	if err != nil || !slices.Equal(fp.Summary, []string{"loss"}) {
		t.Fatalf("RunFieldPaths = %+v, %v", fp, err)
	}
}
