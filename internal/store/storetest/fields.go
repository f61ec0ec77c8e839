package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fluoro-dev/fluoro/internal/store"
)

// testRunFieldPaths lists a project's config paths and summary keys as
// they come from creating, resuming and updating runs and from ingest:
// config flattened to leaves like the UI's columns, summary keys at the
// top level, nothing from another project or from a rejected update, and
// each list cut at the limit with Truncated set.
func testRunFieldPaths(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r1 := newRun(t, s, "p", "r1", map[string]any{
		"lr":    0.1,
		"opt":   map[string]any{"name": "adam", "betas": []any{0.9, 0.99}},
		"img":   map[string]any{"_type": "image-file", "path": "x.png"},
		"empty": map[string]any{},
		"a.b":   1.0,
		"n":     nil,
	})
	r2 := newRun(t, s, "p", "r2", map[string]any{"bs": 32.0, "a": map[string]any{"b": 2.0}})
	newRun(t, s, "q", "other", map[string]any{"other": 1.0})
	if _, err := s.UpdateRun(ctx, r2.RunKey, store.RunUpdate{
		Config:  map[string]any{"sched": map[string]any{"kind": "cos", "warm": map[string]any{"steps": 10.0}}},
		Summary: map[string]any{"acc": 0.9, "gone": nil},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRun(ctx, r2.RunKey, store.RunUpdate{Config: map[string]any{"bs": 64.0, "rejected": 1.0}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("changing bs without allow_val_change = %v, want ErrConflict", err)
	}
	if _, _, err := s.UpsertRun(ctx, store.RunSpec{RunKey: r1.RunKey, Resume: store.ResumeMust, Config: map[string]any{"resumed": true}, Now: t0}); err != nil {
		t.Fatal(err)
	}
	apply(t, s, store.Batch{RunPK: r1.PK, ProjectPK: r1.ProjectPK, Writer: "w", Seq: 1, Summary: map[string]any{
		"val/loss": 0.5, "hist": map[string]any{"_type": "histogram"}, "nested": map[string]any{"x": 1.0}, "also.gone": nil}})

	want := store.FieldPaths{
		Config:  []string{"a.b", "bs", "img", "lr", "n", "opt.betas", "opt.name", "resumed", "sched.kind", "sched.warm.steps"},
		Summary: []string{"acc", "hist", "nested", "val/loss"},
	}
	got, err := s.RunFieldPaths(ctx, r1.ProjectPK, 100)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RunFieldPaths (-want +got):\n%s", diff)
	}
	got, err = s.RunFieldPaths(ctx, r1.ProjectPK, 10)
	if err != nil || got.Truncated {
		t.Errorf("RunFieldPaths(limit = config count) = truncated %v, %v; want every path", got.Truncated, err)
	}
	got, err = s.RunFieldPaths(ctx, r1.ProjectPK, 3)
	if err != nil {
		t.Fatal(err)
	}
	want = store.FieldPaths{Config: []string{"a.b", "bs", "img"}, Summary: []string{"acc", "hist", "nested"}, Truncated: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RunFieldPaths(limit 3) (-want +got):\n%s", diff)
	}
	q := newRun(t, s, "empty", "r", nil)
	got, err = s.RunFieldPaths(ctx, q.ProjectPK, 100)
	if diff := cmp.Diff(store.FieldPaths{Config: []string{}, Summary: []string{}}, got); err != nil || diff != "" {
		t.Errorf("RunFieldPaths(project without keys) = %v (-want +got):\n%s", err, diff)
	}
}
