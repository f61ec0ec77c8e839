package storetest

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// testFindRunKeys checks a backend's KeyFinder (if any) against RunKeys:
// the named keys the run has, in the order asked, and none it lacks
// (including keys of the project that only another run has).
func testFindRunKeys(t *testing.T, s store.Store, _ func() store.Store) {
	kf, ok := s.(history.KeyFinder)
	if !ok {
		t.Skip("backend has no KeyFinder")
	}
	ctx := context.Background()
	fixture(t, s)
	r1 := newRun(t, s, "p", "r1", nil)
	r2 := newRun(t, s, "p", "r2", nil)
	apply(t, s, store.Batch{RunPK: r1.PK, ProjectPK: r1.ProjectPK, Writer: "w", History: []history.Row{
		row(1, "loss", 1.0, "acc", 0.5), row(7, "loss", 0.5, "note", history.Value{Kind: history.String, Text: "x"})}})
	apply(t, s, store.Batch{RunPK: r2.PK, ProjectPK: r2.ProjectPK, Writer: "w", History: []history.Row{row(3, "other", 2.0)}})
	all, err := s.RunKeys(ctx, r1.PK)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]history.KeyInfo{}
	for _, k := range all {
		byName[k.Key] = k
	}
	got, err := kf.FindRunKeys(ctx, r1.PK, []string{"note", "other", "missing", "loss"})
	if err != nil {
		t.Fatal(err)
	}
	want := []history.KeyInfo{byName["note"], byName["loss"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FindRunKeys (-want +got):\n%s", diff)
	}
	if got, err := kf.FindRunKeys(ctx, r1.PK, nil); err != nil || len(got) != 0 {
		t.Errorf("FindRunKeys(none) = %v, %v", got, err)
	}
}

// testProjectKeysFollowIngest lists a project's keys between batches that
// add keys and change a key's type: a backend that keeps listings must
// never serve an old one.
func testProjectKeysFollowIngest(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r := newRun(t, s, "p", "r1", nil)
	want := []history.KeyType{}
	for seq, b := range []history.Row{
		row(1, "b", 1.0),
		row(2, "a", 1.0, "c", 2.0),
		row(3, "b", history.Value{Kind: history.String, Text: "now a string"}),
		row(4, "a", 3.0),
	} {
		apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: int64(seq), History: []history.Row{b}})
		switch seq {
		case 0:
			want = []history.KeyType{{Key: "b", Type: "number"}}
		case 1:
			want = []history.KeyType{{Key: "a", Type: "number"}, {Key: "b", Type: "number"}, {Key: "c", Type: "number"}}
		case 2:
			want[1].Type = "string"
		}
		for try := 0; try < 2; try++ {
			got, err := s.ProjectKeys(ctx, r.ProjectPK)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("after batch %d (try %d): ProjectKeys (-want +got):\n%s", seq, try, diff)
			}
		}
	}
}
