// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's test calls Run with a function that opens a fresh,
// empty store and can reopen it (to check that data survives a restart).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/query"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// Opener opens a fresh store; reopen closes nothing and opens the same data
// again (the caller closes the first store before calling it).
type Opener func(t *testing.T) (s store.Store, reopen func() store.Store)

// Settler is implemented by backends that organise data in the background
// (the SQLite history compactor). Point counts are exact once settled; reads
// are correct before and after.
type Settler interface {
	Settle(ctx context.Context) error
}

func settle(t *testing.T, s store.Store) {
	t.Helper()
	if st, ok := s.(Settler); ok {
		if err := st.Settle(context.Background()); err != nil {
			t.Fatalf("Settle: %v", err)
		}
	}
}

// Run runs the suite.
func Run(t *testing.T, open Opener) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, reopen func() store.Store)
	}{
		{"UsersAndKeys", testUsersAndKeys},
		{"Entities", testEntities},
		{"CreateAndResume", testCreateAndResume},
		{"UpdateConfigAndSummary", testUpdate},
		{"RunFieldPaths", testRunFieldPaths},
		{"Finish", testFinish},
		{"LostAndBack", testLost},
		{"OpsAppliedOnce", testOpsAppliedOnce},
		{"StepsAfterLast", testStepsAfterLast},
		{"ListRunsFilterSort", testListRuns},
		{"IngestHistory", testIngestHistory},
		{"IngestIdempotent", testIngestIdempotent},
		{"IngestFinishedOrMissingRun", testIngestRejects},
		{"LatePointsUpsert", testLatePoints},
		{"DuplicateStepsInOneBatch", testDuplicateStepsInOneBatch},
		{"ValueKinds", testValueKinds},
		{"KeyTypes", testKeyTypes},
		{"MediaSteps", testMediaSteps},
		{"ConsoleAndSystem", testConsoleAndSystem},
		{"AlertsSuppressedWithinTheirWait", testAlerts},
		{"DeleteRunRemovesEverything", testDeleteRun},
		{"WriterProgress", testWriterProgress},
		{"Files", testFiles},
		{"Settings", testSettings},
		{"SurvivesReopen", testReopen},
		{"ChartKeepsExtremes", testChart},
		{"ChartIsExactM4", testChartExact},
		{"FindRunKeys", testFindRunKeys},
		{"ProjectKeysFollowIngest", testProjectKeysFollowIngest},
		{"ManyChunksAndLateRewrites", testManyChunks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, reopen := open(t)
			tc.fn(t, s, reopen)
		})
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fixture creates a user "alice" with her entity.
func fixture(t *testing.T, s store.Store) store.User {
	t.Helper()
	ctx := context.Background()
	u, err := s.CreateUser(ctx, store.User{Name: "alice", Admin: true})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if _, err := s.CreateEntity(ctx, store.Entity{Name: "alice", Kind: "user", OwnerUserID: u.ID}); err != nil {
		t.Fatalf("CreateEntity: %v", err)
	}
	return u
}

func newRun(t *testing.T, s store.Store, project, id string, cfg map[string]any) store.Run {
	t.Helper()
	r, resumed, err := s.UpsertRun(context.Background(), store.RunSpec{
		RunKey: store.RunKey{Entity: "alice", Project: project, RunID: id}, Resume: store.ResumeAllow,
		Config: cfg, Now: t0,
	})
	if err != nil {
		t.Fatalf("UpsertRun(%s): %v", id, err)
	}
	if resumed {
		t.Fatalf("UpsertRun(%s) resumed a run that should be new", id)
	}
	return r
}

func apply(t *testing.T, s store.Store, b store.Batch) store.BatchResult {
	t.Helper()
	res, err := s.ApplyBatches(context.Background(), []store.Batch{b})
	if err != nil {
		t.Fatalf("ApplyBatches: %v", err)
	}
	return res[0]
}

func row(step int64, kv ...any) history.Row {
	r := history.Row{Step: step, Time: float64(1000 + step)}
	for i := 0; i < len(kv); i += 2 {
		v, ok := kv[i+1].(history.Value)
		if !ok {
			v = history.NumberValue(kv[i+1].(float64))
		}
		r.Fields = append(r.Fields, history.Field{Key: kv[i].(string), Value: v})
	}
	return r
}

func scanAll(t *testing.T, s store.Store, runPK int64, key string) []history.Point {
	t.Helper()
	var pts []history.Point
	if err := s.Scan(context.Background(), runPK, key, history.All, func(p history.Point) error {
		pts = append(pts, p)
		return nil
	}); err != nil {
		t.Fatalf("Scan(%s): %v", key, err)
	}
	return pts
}

func testUsersAndKeys(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	u := fixture(t, s)
	if _, err := s.CreateUser(ctx, store.User{Name: "alice"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate CreateUser = %v, want ErrExists", err)
	}
	hash := []byte("0123456789abcdef0123456789abcdef")
	if err := s.AddAPIKey(ctx, u.ID, "laptop", hash, "fluoro-0123…"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAPIKey(ctx, u.ID, "again", hash, "x"); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate key hash = %v, want ErrExists", err)
	}
	got, err := s.UserByAPIKeyHash(ctx, hash)
	if err != nil || got.ID != u.ID || !got.Admin {
		t.Errorf("UserByAPIKeyHash = %+v, %v", got, err)
	}
	if _, err := s.UserByAPIKeyHash(ctx, []byte("nope")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown key = %v, want ErrNotFound", err)
	}
	if n, err := s.CountUsers(ctx); err != nil || n != 1 {
		t.Errorf("CountUsers = %d, %v", n, err)
	}
	if got, err := s.UserByName(ctx, "alice"); err != nil || got.ID != u.ID {
		t.Errorf("UserByName = %+v, %v", got, err)
	}
	if _, err := s.UserByID(ctx, 999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByID(999) = %v", err)
	}
}

func testEntities(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	if _, err := s.CreateEntity(ctx, store.Entity{Name: "../etc", Kind: "user"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad entity name = %v, want ErrInvalid", err)
	}
	if _, err := s.CreateEntity(ctx, store.Entity{Name: "alice", Kind: "user"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate entity = %v, want ErrExists", err)
	}
	e, err := s.EntityByName(ctx, "alice")
	if err != nil || e.Kind != "user" {
		t.Fatalf("EntityByName = %+v, %v", e, err)
	}
	newRun(t, s, "p1", "r1", nil)
	newRun(t, s, "p1", "r2", nil)
	newRun(t, s, "p2", "r1", nil)
	ps, err := s.ListProjects(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, p := range ps {
		counts[p.Name] = p.RunCount
	}
	if diff := cmp.Diff(map[string]int64{"p1": 2, "p2": 1}, counts); diff != "" {
		t.Errorf("projects (-want +got):\n%s", diff)
	}
	if _, err := s.ProjectByName(ctx, "alice", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing project = %v", err)
	}
	if _, _, err := s.UpsertRun(ctx, store.RunSpec{RunKey: store.RunKey{Entity: "ghost", Project: "p"}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("run in missing entity = %v, want ErrNotFound", err)
	}
}

func testCreateAndResume(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r, resumed, err := s.UpsertRun(ctx, store.RunSpec{RunKey: store.RunKey{Entity: "alice", Project: "p"}, Resume: store.ResumeNever,
		Config: map[string]any{"lr": 0.1}, Tags: []string{"a"}, Group: "g", Host: "h", Git: store.Git{Commit: "abc"}})
	if err != nil || resumed {
		t.Fatalf("create = %v, resumed %v", err, resumed)
	}
	if len(r.RunID) != 8 || r.Name == "" || r.State != store.StateRunning || r.LastStep != -1 {
		t.Errorf("generated run = id %q name %q state %q last_step %d", r.RunID, r.Name, r.State, r.LastStep)
	}
	if r.Config["lr"] != 0.1 || r.Group != "g" || r.Host != "h" || r.Git.Commit != "abc" || len(r.Tags) != 1 {
		t.Errorf("run fields lost: %+v", r)
	}
	key := r.RunKey
	if _, _, err := s.UpsertRun(ctx, store.RunSpec{RunKey: key, Resume: store.ResumeNever}); !errors.Is(err, store.ErrExists) {
		t.Errorf("resume=never on existing = %v, want ErrExists", err)
	}
	missing := store.RunKey{Entity: "alice", Project: "p", RunID: "zzzzzzzz"}
	if _, _, err := s.UpsertRun(ctx, store.RunSpec{RunKey: missing, Resume: store.ResumeMust}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("resume=must on missing = %v, want ErrNotFound", err)
	}
	if _, err := s.FinishRun(ctx, key, store.RunFinish{}); err != nil {
		t.Fatal(err)
	}
	r2, resumed, err := s.UpsertRun(ctx, store.RunSpec{RunKey: key, Resume: store.ResumeMust, Config: map[string]any{"epochs": 3.0}})
	if err != nil || !resumed {
		t.Fatalf("resume=must = %v, resumed %v", err, resumed)
	}
	if r2.State != store.StateRunning || r2.FinishedAt != nil || r2.PK != r.PK || r2.Config["lr"] != 0.1 || r2.Config["epochs"] != 3.0 {
		t.Errorf("resumed run = %+v", r2)
	}
	if _, _, err := s.UpsertRun(ctx, store.RunSpec{RunKey: store.RunKey{Entity: "alice", Project: "p", RunID: "bad/id"}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad run id = %v, want ErrInvalid", err)
	}
}

func testUpdate(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r := newRun(t, s, "p", "r1", map[string]any{"lr": 0.1, "opt": "adam"})
	_, err := s.UpdateRun(ctx, r.RunKey, store.RunUpdate{Config: map[string]any{"lr": 0.2}})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("changing lr without allow_val_change = %v, want ErrConflict", err)
	}
	if got, _ := s.Run(ctx, r.RunKey); got.Config["lr"] != 0.1 {
		t.Errorf("rejected update changed config: %v", got.Config)
	}
	got, err := s.UpdateRun(ctx, r.RunKey, store.RunUpdate{Config: map[string]any{"lr": 0.1, "bs": 32.0}})
	if err != nil || got.Config["bs"] != 32.0 {
		t.Fatalf("same value + new key = %v, %v", got.Config, err)
	}
	got, err = s.UpdateRun(ctx, r.RunKey, store.RunUpdate{Config: map[string]any{"lr": 0.2}, AllowValChange: true})
	if err != nil || got.Config["lr"] != 0.2 || got.Config["opt"] != "adam" {
		t.Fatalf("allow_val_change = %v, %v", got.Config, err)
	}
	notes, tags := "hello", []string{"x", "y"}
	got, err = s.UpdateRun(ctx, r.RunKey, store.RunUpdate{Summary: map[string]any{"acc": 0.9, "loss": 0.1}, Notes: &notes, Tags: &tags})
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.UpdateRun(ctx, r.RunKey, store.RunUpdate{Summary: map[string]any{"loss": nil}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"acc": 0.9}, got.Summary); diff != "" || got.Notes != "hello" || len(got.Tags) != 2 {
		t.Errorf("after updates summary diff %s notes %q tags %v", diff, got.Notes, got.Tags)
	}
	if _, err := s.UpdateRun(ctx, store.RunKey{Entity: "alice", Project: "p", RunID: "nope"}, store.RunUpdate{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update missing = %v", err)
	}
}

func testFinish(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	one, zero := 1, 0
	cases := []struct {
		f    store.RunFinish
		want string
	}{
		{store.RunFinish{}, store.StateFinished},
		{store.RunFinish{ExitCode: &zero}, store.StateFinished},
		{store.RunFinish{ExitCode: &one}, store.StateFailed},
		{store.RunFinish{State: store.StateKilled, ExitCode: &one}, store.StateKilled},
		{store.RunFinish{State: store.StatePreempted, ExitCode: &one}, store.StatePreempted},
	}
	for i, c := range cases {
		r := newRun(t, s, "p", string(rune('a'+i)), nil)
		got, err := s.FinishRun(ctx, r.RunKey, c.f)
		if err != nil || got.State != c.want || got.FinishedAt == nil {
			t.Errorf("finish %+v = %q, %v; want %q", c.f, got.State, err, c.want)
		}
	}
	r := newRun(t, s, "p", "z", nil)
	if _, err := s.FinishRun(ctx, r.RunKey, store.RunFinish{State: store.StateRunning}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("finish as running = %v, want ErrInvalid", err)
	}
}

// testLost: runs silent since a time become lost, only running ones; a
// batch brings one back; a lost run can be finished and filtered on.
func testLost(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	quiet := newRun(t, s, "p", "quiet", nil) // heartbeat at t0
	done := newRun(t, s, "p", "done", nil)
	if _, err := s.FinishRun(ctx, done.RunKey, store.RunFinish{Now: t0}); err != nil {
		t.Fatal(err)
	}
	alive := newRun(t, s, "p", "alive", nil)
	apply(t, s, store.Batch{RunPK: alive.PK, ProjectPK: alive.ProjectPK, Writer: "w", Seq: 1, Now: t0.Add(time.Hour)}) // a heartbeat
	lost, err := s.MarkLost(ctx, t0.Add(time.Minute), t0.Add(2*time.Minute))
	if err != nil || len(lost) != 1 || lost[0].RunID != "quiet" || lost[0].State != store.StateLost {
		t.Fatalf("MarkLost = %+v, %v; want only quiet, lost", lost, err)
	}
	if again, err := s.MarkLost(ctx, t0.Add(time.Minute), t0.Add(2*time.Minute)); err != nil || len(again) != 0 {
		t.Errorf("a second MarkLost = %+v, %v; want nothing new", again, err)
	}
	for id, want := range map[string]string{"quiet": store.StateLost, "done": store.StateFinished, "alive": store.StateRunning} {
		if r, err := s.Run(ctx, store.RunKey{Entity: "alice", Project: "p", RunID: id}); err != nil || r.State != want {
			t.Errorf("%s: %q, %v; want %q", id, r.State, err, want)
		}
	}
	f, _ := query.Parse(`state = "lost"`)
	if page, err := s.ListRuns(ctx, store.RunQuery{ProjectPK: quiet.ProjectPK, Filter: f, Limit: 10}); err != nil || !slices.Equal(ids(page), []string{"quiet"}) {
		t.Errorf("filter state = lost: %v, %v", ids(page), err)
	}
	// the process comes back: its batch is stored and the run runs again
	res := apply(t, s, store.Batch{RunPK: quiet.PK, ProjectPK: quiet.ProjectPK, Writer: "w", Seq: 1,
		History: []history.Row{row(0, "loss", 1.0)}, Now: t0.Add(3 * time.Minute)})
	if res.Err != nil || !res.Revived {
		t.Fatalf("batch for a lost run: %+v", res)
	}
	if r, _ := s.Run(ctx, quiet.RunKey); r.State != store.StateRunning || r.LastStep != 0 {
		t.Errorf("after its batch: %q, last step %d", r.State, r.LastStep)
	}
	if res := apply(t, s, store.Batch{RunPK: quiet.PK, ProjectPK: quiet.ProjectPK, Writer: "w", Seq: 2, Now: t0.Add(4 * time.Minute)}); res.Revived {
		t.Errorf("a running run's batch says revived: %+v", res)
	}
	// lost again, then finished by a sync that found its spool
	if lost, _ := s.MarkLost(ctx, t0.Add(time.Hour), t0.Add(time.Hour)); len(lost) != 1 {
		t.Fatalf("MarkLost = %+v", lost)
	}
	if r, err := s.FinishRun(ctx, quiet.RunKey, store.RunFinish{State: store.StateCrashed}); err != nil || r.State != store.StateCrashed {
		t.Errorf("finish a lost run: %q, %v", r.State, err)
	}
	if _, err := s.FinishRun(ctx, alive.RunKey, store.RunFinish{State: store.StateLost}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("finish as lost = %v, want ErrInvalid", err)
	}
}

// testOpsAppliedOnce checks that an op with an OpID is applied at most once
// per (run, writer, seq): a spool replayed after newer ops were applied
// must not undo them.
func testOpsAppliedOnce(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	key := store.RunKey{Entity: "alice", Project: "p", RunID: "r1"}
	op := func(seq int64) store.OpID { return store.OpID{Writer: "w", Seq: seq} }
	create := store.RunSpec{RunKey: key, Op: op(1), Resume: store.ResumeAllow, Config: map[string]any{"lr": 0.1}, Now: t0}
	if _, resumed, err := s.UpsertRun(ctx, create); err != nil || resumed {
		t.Fatalf("create with op 1 = %v, resumed %v", err, resumed)
	}
	summary := func(acc float64) map[string]any { return map[string]any{"acc": acc} }
	for _, seq := range []int64{2, 3} {
		if _, err := s.UpdateRun(ctx, key, store.RunUpdate{Op: op(seq), Summary: summary(float64(seq))}); err != nil {
			t.Fatalf("update op %d: %v", seq, err)
		}
	}
	wantDup := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrDuplicate) {
			t.Errorf("%s = %v, want ErrDuplicate", what, err)
		}
	}
	_, err := s.UpdateRun(ctx, key, store.RunUpdate{Op: op(2), Summary: summary(2)})
	wantDup("update op 2 again, after op 3", err)
	if r, _ := s.Run(ctx, key); r.Summary["acc"] != 3.0 {
		t.Errorf("after a repeated op 2, summary = %v, want op 3's acc 3", r.Summary)
	}
	if _, err := s.FinishRun(ctx, key, store.RunFinish{Op: op(4), State: store.StateFinished}); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.UpsertRun(ctx, create)
	wantDup("create op 1 again, after the finish", err)
	_, err = s.FinishRun(ctx, key, store.RunFinish{Op: op(4), State: store.StateCrashed})
	wantDup("finish op 4 again", err)
	_, _, err = s.UpsertRun(ctx, store.RunSpec{RunKey: key, Op: op(1), Resume: store.ResumeNever})
	wantDup("create op 1 again with resume=never", err)
	if r, _ := s.Run(ctx, key); r.State != store.StateFinished || r.FinishedAt == nil || r.Config["lr"] != 0.1 {
		t.Errorf("after repeated ops, run = state %q finished_at %v config %v; want finished as op 4 left it", r.State, r.FinishedAt, r.Config)
	}

	// A new seq, or another writer's seq, is a new op.
	r, err := s.UpdateRun(ctx, key, store.RunUpdate{Op: op(5), Summary: summary(5)})
	if err != nil || r.Summary["acc"] != 5.0 {
		t.Fatalf("update op 5 = %v, %v", r.Summary, err)
	}
	r, err = s.UpdateRun(ctx, key, store.RunUpdate{Op: store.OpID{Writer: "w2", Seq: 2}, Summary: summary(6)})
	if err != nil || r.Summary["acc"] != 6.0 {
		t.Fatalf("another writer's op 2 = %v, %v", r.Summary, err)
	}
	// Ops without an OpID are applied every time.
	for range 2 {
		if _, err := s.UpdateRun(ctx, key, store.RunUpdate{Summary: summary(7)}); err != nil {
			t.Fatalf("update without an op: %v", err)
		}
	}

	// A refused op is not remembered: sent again, it can succeed.
	_, err = s.UpdateRun(ctx, key, store.RunUpdate{Op: op(6), Config: map[string]any{"lr": 0.2}})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("config change without allow_val_change = %v, want ErrConflict", err)
	}
	r, err = s.UpdateRun(ctx, key, store.RunUpdate{Op: op(6), Config: map[string]any{"lr": 0.2}, AllowValChange: true})
	if err != nil || r.Config["lr"] != 0.2 {
		t.Fatalf("op 6 after its refusal = %v, %v", r.Config, err)
	}

	// Batches and ops of a writer share one seq space.
	r2, _, err := s.UpsertRun(ctx, store.RunSpec{RunKey: store.RunKey{Entity: "alice", Project: "p", RunID: "r2"}, Op: op(1), Resume: store.ResumeAllow})
	if err != nil {
		t.Fatalf("create r2 with op 1 (r1's seq, another run): %v", err)
	}
	if res := apply(t, s, store.Batch{RunPK: r2.PK, ProjectPK: r2.ProjectPK, Writer: "w", Seq: 2}); res.Duplicate || res.Err != nil {
		t.Fatalf("batch 2 of r2 = %+v", res)
	}
	_, err = s.UpdateRun(ctx, r2.RunKey, store.RunUpdate{Op: op(2), Summary: summary(1)})
	wantDup("an op with the seq of an applied batch", err)
}

func ids(p store.RunPage) []string {
	out := []string{}
	for _, r := range p.Runs {
		out = append(out, r.RunID)
	}
	return out
}

func testListRuns(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	specs := []struct {
		id      string
		cfg     map[string]any
		summary map[string]any
		tags    []string
	}{
		{"r1", map[string]any{"lr": 0.1, "opt": "adam", "model": map[string]any{"layers": 2.0}}, map[string]any{"val/acc": 0.7}, []string{"base"}},
		{"r2", map[string]any{"lr": 0.01, "opt": "sgd", "model": map[string]any{"layers": 4.0}}, map[string]any{"val/acc": 0.9}, nil},
		{"r3", map[string]any{"lr": 0.001, "opt": "adam"}, nil, []string{"base", "best"}},
	}
	var project int64
	for _, sp := range specs {
		r := newRun(t, s, "p", sp.id, sp.cfg)
		project = r.ProjectPK
		tags := sp.tags
		if _, err := s.UpdateRun(ctx, r.RunKey, store.RunUpdate{Summary: sp.summary, Tags: &tags}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.FinishRun(ctx, store.RunKey{Entity: "alice", Project: "p", RunID: "r2"}, store.RunFinish{}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		filter, sort string
		want         []string
	}{
		{`config.lr >= 0.01`, "id", []string{"r1", "r2"}},
		{`config.opt = "adam" and config.lr < 0.05`, "", []string{"r3"}},
		{`tags has "base"`, "id", []string{"r1", "r3"}},
		{`state = "finished"`, "", []string{"r2"}},
		{`not (state = "finished")`, "id", []string{"r1", "r3"}},
		{`config.model.layers > 3`, "", []string{"r2"}},
		{`summary."val/acc" exists`, "-summary.val/acc", []string{"r2", "r1"}},
		{``, "-summary.val/acc", []string{"r2", "r1", "r3"}}, // missing values sort last
		{`config.opt in ("sgd", "rmsprop") or id = "r3"`, "id", []string{"r2", "r3"}},
		{`config.opt != "adam"`, "", []string{"r2"}},
		{`name ~ "` + "" + `"`, "id", []string{"r1", "r2", "r3"}},
		{`config.opt = "'; DROP TABLE runs; --"`, "", []string{}},
		{`created_at > "2020-01-01"`, "id", []string{"r1", "r2", "r3"}},
	}
	for _, c := range cases {
		f, err := query.Parse(c.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.filter, err)
		}
		srt, err := query.ParseSort(c.sort)
		if err != nil {
			t.Fatalf("ParseSort(%q): %v", c.sort, err)
		}
		page, err := s.ListRuns(ctx, store.RunQuery{ProjectPK: project, Filter: f, Sort: srt, Limit: 50})
		if err != nil {
			t.Fatalf("ListRuns(%q): %v", c.filter, err)
		}
		if diff := cmp.Diff(c.want, ids(page)); diff != "" {
			t.Errorf("filter %q sort %q (-want +got):\n%s", c.filter, c.sort, diff)
		}
		if page.Total != int64(len(c.want)) {
			t.Errorf("filter %q total = %d, want %d", c.filter, page.Total, len(c.want))
		}
	}
	srt, _ := query.ParseSort("id")
	page, err := s.ListRuns(ctx, store.RunQuery{ProjectPK: project, Sort: srt, Limit: 2, Offset: 1})
	if err != nil || page.Total != 3 {
		t.Fatalf("paged = %v total %d", err, page.Total)
	}
	if diff := cmp.Diff([]string{"r2", "r3"}, ids(page)); diff != "" {
		t.Errorf("page 2 (-want +got):\n%s", diff)
	}
	f, _ := query.Parse(`created_at > "yesterday"`)
	if _, err := s.ListRuns(ctx, store.RunQuery{ProjectPK: project, Filter: f}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad time literal = %v, want ErrInvalid", err)
	}
}

func testIngestHistory(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r := newRun(t, s, "p", "r1", nil)
	var rows []history.Row
	for step := int64(0); step < 100; step++ {
		rows = append(rows, row(step, "train/loss", 1/float64(step+1), "lr", 0.001))
	}
	res := apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 0, History: rows,
		Summary: map[string]any{"train/loss": 0.01}})
	if res.Err != nil || res.Duplicate {
		t.Fatalf("apply = %+v", res)
	}
	pts := scanAll(t, s, r.PK, "train/loss")
	if len(pts) != 100 || pts[99].Step != 99 || pts[99].Value.Num != 0.01 || pts[5].Time != 1005 {
		t.Fatalf("scan = %d points, last %+v", len(pts), pts[len(pts)-1])
	}
	var ranged []history.Point
	if err := s.Scan(ctx, r.PK, "lr", history.Range{Min: 10, Max: 19}, func(p history.Point) error {
		ranged = append(ranged, p)
		return nil
	}); err != nil || len(ranged) != 10 || ranged[0].Step != 10 {
		t.Errorf("ranged scan = %d points, %v", len(ranged), err)
	}
	keys, err := s.RunKeys(ctx, r.PK)
	if err != nil {
		t.Fatal(err)
	}
	want := []history.KeyInfo{{Key: "lr", Points: 100, MinStep: 0, MaxStep: 99, Type: "number"}, {Key: "train/loss", Points: 100, MinStep: 0, MaxStep: 99, Type: "number"}}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("RunKeys (-want +got):\n%s", diff)
	}
	pk, err := s.ProjectKeys(ctx, r.ProjectPK)
	if err != nil || len(pk) != 2 {
		t.Errorf("ProjectKeys = %v, %v", pk, err)
	}
	got, _ := s.Run(ctx, r.RunKey)
	if got.LastStep != 99 || got.Points != 200 || got.Summary["train/loss"] != 0.01 {
		t.Errorf("run after ingest: last_step %d points %d summary %v", got.LastStep, got.Points, got.Summary)
	}
}

func testIngestIdempotent(t *testing.T, s store.Store, _ func() store.Store) {
	fixture(t, s)
	r := newRun(t, s, "p", "r1", nil)
	b := store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 7, History: []history.Row{row(0, "x", 1.0)},
		Console: []store.ConsoleLine{{Time: 1, Stream: "stdout", Line: "once"}}}
	if res := apply(t, s, b); res.Duplicate {
		t.Fatal("first apply reported duplicate")
	}
	// Same writer and seq with different content: still a no-op.
	b2 := b
	b2.History = []history.Row{row(0, "x", 2.0)}
	if res := apply(t, s, b2); !res.Duplicate {
		t.Fatal("repeat not reported as duplicate")
	}
	// Another writer with the same seq is a different batch.
	b3 := b
	b3.Writer = "w2"
	b3.History = []history.Row{row(1, "x", 3.0)}
	if res := apply(t, s, b3); res.Duplicate {
		t.Fatal("other writer's seq treated as duplicate")
	}
	pts := scanAll(t, s, r.PK, "x")
	if len(pts) != 2 || pts[0].Value.Num != 1 {
		t.Errorf("points = %+v", pts)
	}
	lines, _ := s.ConsoleLines(context.Background(), r.PK, 0, 10)
	if len(lines) != 2 {
		t.Errorf("console lines = %d, want 2 (one per distinct batch)", len(lines))
	}
	// Several batches in one group, one of them a duplicate within the group.
	res, err := s.ApplyBatches(context.Background(), []store.Batch{
		{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 8, History: []history.Row{row(2, "x", 4.0)}},
		{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 8, History: []history.Row{row(3, "x", 5.0)}},
	})
	if err != nil || res[0].Duplicate || !res[1].Duplicate {
		t.Errorf("group with repeat = %+v, %v", res, err)
	}
	// The highest durable seq per writer: a late lower seq does not lower it.
	apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 3, History: []history.Row{row(4, "x", 6.0)}})
	for _, want := range []struct {
		writer string
		seq    int64
	}{{"w", 8}, {"w2", 7}, {"nobody", -1}} {
		if got, err := s.HighestSeq(context.Background(), r.PK, want.writer); err != nil || got != want.seq {
			t.Errorf("HighestSeq(%s) = %d, %v; want %d", want.writer, got, err, want.seq)
		}
	}
}

func testIngestRejects(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r := newRun(t, s, "p", "r1", nil)
	if _, err := s.FinishRun(ctx, r.RunKey, store.RunFinish{}); err != nil {
		t.Fatal(err)
	}
	res, err := s.ApplyBatches(ctx, []store.Batch{
		{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 1, History: []history.Row{row(0, "x", 1.0)}},
		{RunPK: 424242, ProjectPK: r.ProjectPK, Writer: "w", Seq: 1, History: []history.Row{row(0, "x", 1.0)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, store.ErrRunFinished) || !errors.Is(res[1].Err, store.ErrNotFound) {
		t.Fatalf("results = %+v", res)
	}
	if pts := scanAll(t, s, r.PK, "x"); len(pts) != 0 {
		t.Fatalf("finished run took points: %+v", pts)
	}
	if got, err := s.HighestSeq(ctx, r.PK, "w"); err != nil || got != -1 {
		t.Fatalf("HighestSeq after a refused batch = %d, %v; want -1 (nothing durable)", got, err)
	}
	// After a resume the same (writer, seq) applies: the rejection left no trace.
	if _, _, err := s.UpsertRun(ctx, store.RunSpec{RunKey: r.RunKey, Resume: store.ResumeMust}); err != nil {
		t.Fatal(err)
	}
	if res := apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 1, History: []history.Row{row(0, "x", 1.0)}}); res.Err != nil || res.Duplicate {
		t.Fatalf("after resume = %+v", res)
	}
}

func testLatePoints(t *testing.T, s store.Store, _ func() store.Store) {
	fixture(t, s)
	r := newRun(t, s, "p", "r1", nil)
	apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 1,
		History: []history.Row{row(10, "val/loss", 0.5), row(20, "val/loss", 0.4)}})
	settle(t, s)
	// An async eval for step 5 arrives late, and step 10 is corrected.
	apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 2,
		History: []history.Row{row(5, "val/loss", 0.6), row(10, "val/loss", 0.45)}})
	_, settles := s.(Settler)
	checkLate(t, s, r, !settles)
	settle(t, s)
	checkLate(t, s, r, true)
}

func checkLate(t *testing.T, s store.Store, r store.Run, counts bool) {
	t.Helper()
	ctx := context.Background()
	pts := scanAll(t, s, r.PK, "val/loss")
	got := map[int64]float64{}
	var order []int64
	for _, p := range pts {
		got[p.Step] = p.Value.Num
		order = append(order, p.Step)
	}
	if diff := cmp.Diff(map[int64]float64{5: 0.6, 10: 0.45, 20: 0.4}, got); diff != "" {
		t.Errorf("late points (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{5, 10, 20}, order); diff != "" {
		t.Errorf("scan order (-want +got):\n%s", diff)
	}
	if !counts {
		return
	}
	keys, _ := s.RunKeys(ctx, r.PK)
	if len(keys) != 1 || keys[0].Points != 3 || keys[0].MinStep != 5 || keys[0].MaxStep != 20 {
		t.Errorf("key info = %+v", keys)
	}
	run, _ := s.Run(ctx, r.RunKey)
	if run.LastStep != 20 || run.Points != 3 {
		t.Errorf("run last_step %d points %d", run.LastStep, run.Points)
	}
}

// testManyChunks writes a long series in shuffled batches with rewrites, so
// that compaction splits, merges and re-seals chunks, and checks every point.
func testManyChunks(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r := newRun(t, s, "p", "r1", nil)
	const n = 20000
	want := map[int64]float64{}
	seq := int64(0)
	// Forward pass with gaps, then fill the gaps late, then rewrite a band.
	for pass := 0; pass < 3; pass++ {
		var rows []history.Row
		for i := int64(0); i < n; i++ {
			keep := (pass == 0 && i%3 != 0) || (pass == 1 && i%3 == 0) || (pass == 2 && i >= 5000 && i < 9000)
			if !keep {
				continue
			}
			v := float64(i) + float64(pass)/10
			want[i] = v
			rows = append(rows, row(i, "m", v))
			if len(rows) == 1500 {
				seq++
				apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: seq, History: rows})
				rows = nil
			}
		}
		seq++
		apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: seq, History: rows})
		if pass != 1 {
			settle(t, s)
		}
	}
	check := func() {
		pts := scanAll(t, s, r.PK, "m")
		if len(pts) != n {
			t.Fatalf("%d points, want %d", len(pts), n)
		}
		for i, p := range pts {
			if p.Step != int64(i) || p.Value.Num != want[p.Step] {
				t.Fatalf("point %d = step %d value %v, want %v", i, p.Step, p.Value.Num, want[int64(i)])
			}
		}
	}
	check()
	settle(t, s)
	check()
	keys, _ := s.RunKeys(ctx, r.PK)
	if len(keys) != 1 || keys[0].Points != n {
		t.Errorf("key points = %+v, want %d", keys, n)
	}
}

// testDuplicateStepsInOneBatch checks that a batch repeating a step counts
// one point (the last value wins), even before the store settles.
func testDuplicateStepsInOneBatch(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r := newRun(t, s, "p", "r1", nil)
	apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 1,
		History: []history.Row{row(0, "a", 1.0), row(1, "a", 2.0), row(0, "a", 3.0)}})
	for _, settled := range []bool{false, true} {
		if settled {
			settle(t, s)
		}
		pts := scanAll(t, s, r.PK, "a")
		if len(pts) != 2 || pts[0].Value.Num != 3 || pts[1].Value.Num != 2 {
			t.Errorf("settled=%v: points %+v", settled, pts)
		}
		keys, _ := s.RunKeys(ctx, r.PK)
		run, _ := s.Run(ctx, r.RunKey)
		if len(keys) != 1 || keys[0].Points != 2 || run.Points != 2 {
			t.Errorf("settled=%v: key info %+v, run points %d; want 2", settled, keys, run.Points)
		}
	}
}

func testValueKinds(t *testing.T, s store.Store, _ func() store.Store) {
	fixture(t, s)
	r := newRun(t, s, "p", "r1", nil)
	vals := map[string]history.Value{
		"nan":  history.NumberValue(math.NaN()),
		"pinf": history.NumberValue(math.Inf(1)),
		"ninf": history.NumberValue(math.Inf(-1)),
		"big":  history.NumberValue(1e308),
		"neg0": history.NumberValue(-0.5),
		"str":  {Kind: history.String, Text: "héllo ✓"},
		"bool": {Kind: history.Bool, Num: 1},
		"json": {Kind: history.JSON, Text: `{"_type":"histogram","bins":[1,2]}`},
	}
	var fields []any
	for k, v := range vals {
		fields = append(fields, k, v)
	}
	apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 1, History: []history.Row{row(3, fields...)}})
	for k, want := range vals {
		pts := scanAll(t, s, r.PK, k)
		if len(pts) != 1 {
			t.Errorf("%s: %d points", k, len(pts))
			continue
		}
		got := pts[0].Value
		same := got.Kind == want.Kind && got.Text == want.Text &&
			(got.Num == want.Num || (math.IsNaN(got.Num) && math.IsNaN(want.Num)))
		if !same {
			t.Errorf("%s: got %+v, want %+v", k, got, want)
		}
	}
}

func jsonValue(text string) history.Value { return history.Value{Kind: history.JSON, Text: text} }

// testKeyTypes: each key's type is that of its most recently written
// value, per run (RunKeys) and per project (ProjectKeys).
func testKeyTypes(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r1 := newRun(t, s, "p", "r1", nil)
	r2 := newRun(t, s, "p", "r2", nil)
	img := jsonValue(`{"_type":"image-file","path":"media/images/img_0_0123456789abcdef0123.png","sha256":"x"}`)
	hist := jsonValue(`{"_type":"histogram","bins":[0,1,2],"values":[3,4]}`)
	batches := []struct {
		run  store.Run
		rows []history.Row
	}{
		{r1, []history.Row{row(0, "loss", 1.0, "img", img, "hist", hist, "note", history.Value{Kind: history.String, Text: "hi"},
			"flag", history.Value{Kind: history.Bool, Num: 1}, "arr", jsonValue(`[1,2]`), "flip", 1.0)}},
		// flip: a string last in this batch, then a number in a later one.
		{r1, []history.Row{row(1, "flip", history.Value{Kind: history.String, Text: "s"}), row(2, "loss", 0.5)}},
		{r1, []history.Row{row(3, "flip", 2.0)}},
		// mixed within one batch: the row order decides.
		{r1, []history.Row{row(4, "mixed", 1.0), row(5, "mixed", jsonValue(`{"_type":"table-file"}`))}},
		{r1, []history.Row{row(6, "mixed2", jsonValue(`{"_type":"table-file"}`)), row(7, "mixed2", 3.0)}},
		// The same key as a number in another run, written later.
		{r2, []history.Row{row(0, "note", 7.0), row(1, "img", jsonValue(`{"_type":"images/separated","count":2}`))}},
		// A late replacement at an existing step changes the type too.
		{r1, []history.Row{row(0, "hist", jsonValue(`{"_type":"fluoro.layer-norms","n":[1]}`))}},
	}
	for i, b := range batches {
		if res := apply(t, s, store.Batch{RunPK: b.run.PK, ProjectPK: b.run.ProjectPK, Writer: "w", Seq: int64(i), History: b.rows}); res.Err != nil {
			t.Fatalf("batch %d: %v", i, res.Err)
		}
	}
	check := func(when string) {
		t.Helper()
		types := func(runPK int64) map[string]string {
			ks, err := s.RunKeys(ctx, runPK)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]string{}
			for _, k := range ks {
				m[k.Key] = k.Type
			}
			return m
		}
		want1 := map[string]string{"loss": "number", "img": "image-file", "hist": "fluoro.layer-norms", "note": "string",
			"flag": "bool", "arr": "json", "flip": "number", "mixed": "table-file", "mixed2": "number"}
		if diff := cmp.Diff(want1, types(r1.PK)); diff != "" {
			t.Errorf("%s: r1 key types (-want +got):\n%s", when, diff)
		}
		if diff := cmp.Diff(map[string]string{"note": "number", "img": "images/separated"}, types(r2.PK)); diff != "" {
			t.Errorf("%s: r2 key types (-want +got):\n%s", when, diff)
		}
		pk, err := s.ProjectKeys(ctx, r1.ProjectPK)
		if err != nil {
			t.Fatal(err)
		}
		want := []history.KeyType{{Key: "arr", Type: "json"}, {Key: "flag", Type: "bool"}, {Key: "flip", Type: "number"},
			{Key: "hist", Type: "fluoro.layer-norms"}, {Key: "img", Type: "images/separated"}, {Key: "loss", Type: "number"},
			{Key: "mixed", Type: "table-file"}, {Key: "mixed2", Type: "number"}, {Key: "note", Type: "number"}}
		if diff := cmp.Diff(want, pk); diff != "" {
			t.Errorf("%s: ProjectKeys (-want +got):\n%s", when, diff)
		}
	}
	check("before settling")
	settle(t, s)
	check("after settling")
	// Points of a replaced media value are not counted twice.
	ks, _ := s.RunKeys(ctx, r1.PK)
	for _, k := range ks {
		if k.Key == "hist" && (k.Points != 1 || k.MinStep != 0 || k.MaxStep != 0) {
			t.Errorf("hist after replacement: %+v", k)
		}
	}
}

// testMediaSteps: JSON values come back whole, a step range of one step
// fetches one value, charts keep one value per bucket with its text, and
// a StepScanner lists steps without values.
func testMediaSteps(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r := newRun(t, s, "p", "r1", nil)
	var rows []history.Row
	for step := int64(0); step < 1000; step++ {
		fields := []any{"loss", float64(step)}
		if step%10 == 0 {
			fields = append(fields, "img", jsonValue(fmt.Sprintf(`{"_type":"image-file","path":"media/images/img_%d.png"}`, step)))
		}
		rows = append(rows, row(step, fields...))
	}
	apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 1, History: rows})
	for _, settled := range []bool{false, true} {
		if settled {
			settle(t, s)
		}
		var one []history.Point
		if err := s.Scan(ctx, r.PK, "img", history.Range{Min: 420, Max: 420}, func(p history.Point) error {
			one = append(one, p)
			return nil
		}); err != nil || len(one) != 1 || one[0].Value.Text != `{"_type":"image-file","path":"media/images/img_420.png"}` || one[0].Time != 1420 {
			t.Errorf("settled=%v: value at step 420 = %+v, %v", settled, one, err)
		}
		if ch, ok := s.(history.Charter); ok {
			c, err := ch.Chart(ctx, r.PK, "img", history.All, 40) // 10 buckets of 100 steps
			if err != nil {
				t.Fatal(err)
			}
			if !c.Sampled || c.Total != 100 || len(c.Points) != 10 {
				t.Fatalf("settled=%v: chart of img: sampled %v total %d, %d points", settled, c.Sampled, c.Total, len(c.Points))
			}
			for i, p := range c.Points {
				want := fmt.Sprintf(`{"_type":"image-file","path":"media/images/img_%d.png"}`, i*100)
				if p.Step != int64(i*100) || p.Value.Kind != history.JSON || p.Value.Text != want {
					t.Errorf("settled=%v: chart point %d = %+v, want step %d %s", settled, i, p, i*100, want)
				}
			}
		}
		ss, ok := s.(history.StepScanner)
		if !ok {
			continue
		}
		for _, key := range []string{"img", "loss"} {
			var steps []int64
			var times []float64
			if err := ss.ScanSteps(ctx, r.PK, key, history.Range{Min: 100, Max: 199}, func(step int64, tm float64) error {
				steps = append(steps, step)
				times = append(times, tm)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var want []int64
			for _, p := range scanAll(t, s, r.PK, key) {
				if p.Step >= 100 && p.Step <= 199 {
					want = append(want, p.Step)
				}
			}
			if diff := cmp.Diff(want, steps); diff != "" || len(times) != len(steps) || times[0] != 1100 {
				t.Errorf("settled=%v: ScanSteps(%s) (-want +got):\n%s times %v", settled, key, diff, times)
			}
		}
	}
}

func testConsoleAndSystem(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r := newRun(t, s, "p", "r1", nil)
	var lines []store.ConsoleLine
	for i := 0; i < 25; i++ {
		lines = append(lines, store.ConsoleLine{Time: float64(i), Stream: "stdout", Line: "line " + string(rune('a'+i))})
	}
	apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 1, Console: lines,
		System: []store.SystemSample{{Time: 1, Values: map[string]float64{"cpu": 50}}, {Time: 3, Values: map[string]float64{"cpu": 70, "mem": 1e9}}}})
	first, err := s.ConsoleLines(ctx, r.PK, 0, 10)
	if err != nil || len(first) != 10 || first[0].Line != "line a" {
		t.Fatalf("first page = %+v, %v", first, err)
	}
	rest, err := s.ConsoleLines(ctx, r.PK, first[9].Offset, 100)
	if err != nil || len(rest) != 15 || rest[0].Line != "line k" {
		t.Fatalf("rest = %d lines, %v", len(rest), err)
	}
	sys, err := s.SystemSamples(ctx, r.PK, 10)
	if err != nil || len(sys) != 2 || sys[1].Values["mem"] != 1e9 || sys[0].Time != 1 {
		t.Errorf("system = %+v, %v", sys, err)
	}
	last, _ := s.SystemSamples(ctx, r.PK, 1)
	if len(last) != 1 || last[0].Time != 3 {
		t.Errorf("most recent sample = %+v", last)
	}
}

func testAlerts(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r := newRun(t, s, "p", "r1", nil)
	other := newRun(t, s, "p", "r2", nil)
	alert := func(at float64, title string, waitMS int64) store.Alert {
		return store.Alert{Time: at, Title: title, Text: "text of " + title, Level: store.AlertWarn, WaitMS: waitMS}
	}
	suppressed := func(as []store.Alert) []bool {
		out := make([]bool, len(as))
		for i, a := range as {
			out[i] = a.Suppressed
		}
		return out
	}
	// Same title within the wait: suppressed, also inside one batch; another title is not.
	res := apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 1,
		Alerts: []store.Alert{alert(100, "nan", 60000), alert(130, "nan", 60000), alert(131, "slow", 60000)}})
	if got := suppressed(res.Alerts); !slices.Equal(got, []bool{false, true, false}) || res.Alerts[0].ID == 0 {
		t.Fatalf("first batch: alerts %+v", res.Alerts)
	}
	// 60 s after the last *delivered* one (at 100, not the suppressed one at 130): delivered;
	// a zero wait never suppresses; another run's alerts are its own.
	res = apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 2,
		Alerts: []store.Alert{alert(160, "nan", 60000), alert(161, "nan", 0)}})
	if got := suppressed(res.Alerts); !slices.Equal(got, []bool{false, false}) {
		t.Fatalf("second batch: alerts %+v", res.Alerts)
	}
	res = apply(t, s, store.Batch{RunPK: other.PK, ProjectPK: other.ProjectPK, Writer: "w", Seq: 1,
		Alerts: []store.Alert{alert(162, "nan", 60000)}})
	if res.Alerts[0].Suppressed {
		t.Fatalf("another run's alert was suppressed: %+v", res.Alerts)
	}
	// A replayed batch stores nothing again and reports no alerts to deliver.
	res = apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 2,
		Alerts: []store.Alert{alert(160, "nan", 60000), alert(161, "nan", 0)}})
	if !res.Duplicate || len(res.Alerts) != 0 {
		t.Fatalf("replay: %+v", res)
	}
	got, err := s.Alerts(ctx, r.PK, 10)
	if err != nil || len(got) != 5 {
		t.Fatalf("Alerts = %d, %v", len(got), err)
	}
	if got[0].Time != 161 || got[4].Time != 100 || got[1].Text != "text of nan" || got[1].Level != store.AlertWarn || got[1].WaitMS != 60000 {
		t.Errorf("Alerts, newest first: %+v", got)
	}
	if !slices.Equal(suppressed(got), []bool{false, false, false, true, false}) {
		t.Errorf("stored suppression = %v", suppressed(got))
	}
	if last, _ := s.Alerts(ctx, r.PK, 1); len(last) != 1 || last[0].Time != 161 {
		t.Errorf("most recent alert = %+v", last)
	}
}

func testDeleteRun(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	keep := newRun(t, s, "p", "keep", map[string]any{"lr": 0.1})
	gone := newRun(t, s, "p", "gone", map[string]any{"lr": 0.2})
	for _, r := range []store.Run{keep, gone} {
		apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 1,
			History: []history.Row{row(0, "loss", 1.0), row(1, "loss", 0.5, "img", jsonValue(`{"_type":"image-file","path":"a.png"}`))},
			Console: []store.ConsoleLine{{Time: 1, Stream: "stdout", Line: "hi"}},
			System:  []store.SystemSample{{Time: 1, Values: map[string]float64{"cpu": 5}}},
			Alerts:  []store.Alert{{Time: 1, Title: "t", Level: store.AlertInfo}}})
		// a blob both runs use, and one of its own
		for _, f := range []store.File{{Name: "shared.txt", BlobKey: "sha256/aa"}, {Name: "own.txt", BlobKey: "own/" + r.RunID}} {
			f.RunPK, f.Size, f.SHA256, f.UpdatedAt = r.PK, 1, strings.Repeat("a", 64), t0
			if err := s.PutFile(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	settle(t, s)
	got, err := s.DeleteRun(ctx, gone.RunKey, 1)
	if err != nil || got.PK != gone.PK || got.RunID != "gone" {
		t.Fatalf("DeleteRun = %+v, %v", got, err)
	}
	if !slices.Equal(got.UnusedBlobs, []string{"own/gone"}) {
		t.Errorf("unused blobs = %v, want only the run's own", got.UnusedBlobs)
	}
	for key, want := range map[string]bool{"own/gone": false, "own/keep": true, "sha256/aa": true, "nope": false} {
		if used, err := s.BlobInUse(ctx, key); err != nil || used != want {
			t.Errorf("BlobInUse(%q) = %v, %v; want %v", key, used, err, want)
		}
	}
	if _, err := s.Run(ctx, gone.RunKey); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Run after delete: %v", err)
	}
	if _, err := s.DeleteRun(ctx, gone.RunKey, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteRun: %v", err)
	}
	page, err := s.ListRuns(ctx, store.RunQuery{ProjectPK: keep.ProjectPK, Limit: 10})
	if err != nil || !slices.Equal(ids(page), []string{"keep"}) || page.Total != 1 {
		t.Errorf("ListRuns after delete = %v (total %d), %v", ids(page), page.Total, err)
	}
	if pts := scanAll(t, s, gone.PK, "loss"); len(pts) != 0 {
		t.Errorf("deleted run's history: %v", pts)
	}
	lines, _ := s.ConsoleLines(ctx, gone.PK, 0, 10)
	sys, _ := s.SystemSamples(ctx, gone.PK, 10)
	alerts, _ := s.Alerts(ctx, gone.PK, 10)
	files, _ := s.ListFiles(ctx, gone.PK)
	if len(lines)+len(sys)+len(alerts)+len(files) != 0 {
		t.Errorf("left behind: %d console, %d system, %d alerts, %d files", len(lines), len(sys), len(alerts), len(files))
	}
	// A batch that was on its way finds no run.
	res, err := s.ApplyBatches(ctx, []store.Batch{{RunPK: gone.PK, ProjectPK: gone.ProjectPK, Writer: "w", Seq: 2,
		History: []history.Row{row(2, "loss", 0.1)}}})
	if err != nil || !errors.Is(res[0].Err, store.ErrNotFound) {
		t.Errorf("batch for a deleted run: %+v, %v", res, err)
	}
	// The other run is whole; a new run may take the id, never the PK.
	if pts := scanAll(t, s, keep.PK, "loss"); len(pts) != 2 {
		t.Errorf("kept run's history: %v", pts)
	}
	if lines, _ := s.ConsoleLines(ctx, keep.PK, 0, 10); len(lines) != 1 {
		t.Errorf("kept run's console: %v", lines)
	}
	again := newRun(t, s, "p", "gone", nil)
	if again.PK == gone.PK || again.PK == keep.PK {
		t.Errorf("new run got PK %d (deleted %d, kept %d)", again.PK, gone.PK, keep.PK)
	}
	if pts := scanAll(t, s, again.PK, "loss"); len(pts) != 0 || again.Points != 0 {
		t.Errorf("the new run inherited history: %v (points %d)", pts, again.Points)
	}
	if _, err := s.DeleteRun(ctx, store.RunKey{Entity: "alice", Project: "p", RunID: "never"}, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteRun of an unknown run: %v", err)
	}
	// the last user of the shared blob goes: now it is unused too
	last, err := s.DeleteRun(ctx, keep.RunKey, 1)
	if err != nil || !slices.Equal(last.UnusedBlobs, []string{"own/keep", "sha256/aa"}) {
		t.Errorf("deleting the other run: unused blobs %v, %v", last.UnusedBlobs, err)
	}
}

// testWriterProgress: each writer's highest Logged and Spooled, summed per
// run; duplicates, refusals and progress-only batches count, stale figures
// never lower them, and a deleted run's figures go with it.
func testWriterProgress(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r := newRun(t, s, "p", "r", nil)
	check := func(what string, logged, received int64) {
		t.Helper()
		got, err := s.Run(ctx, r.RunKey)
		if err != nil {
			t.Fatal(err)
		}
		if got.PointsLogged != logged || got.PointsReceived != received || got.PointsPending() != max(0, logged-received) {
			t.Errorf("%s: logged %d, received %d, pending %d; want %d, %d, %d", what,
				got.PointsLogged, got.PointsReceived, got.PointsPending(), logged, received, logged-received)
		}
	}
	batch := func(writer string, seq, logged, spooled int64, rows ...history.Row) store.Batch {
		return store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: writer, Seq: seq, Logged: logged, Spooled: spooled, History: rows}
	}
	check("new run", 0, 0)
	apply(t, s, batch("w1", 1, 0, 0, row(0, "loss", 1.0))) // a writer that does not count
	check("no figures", 0, 0)
	apply(t, s, batch("w1", 2, 2, 6, row(1, "loss", 0.9, "acc", 0.1)))
	check("first batch, 4 more spooled", 6, 2)
	apply(t, s, batch("w1", 3, 4, 6, row(2, "loss", 0.8, "acc", 0.2)))
	check("second batch", 6, 4)
	if res := apply(t, s, batch("w1", 3, 4, 9)); !res.Duplicate {
		t.Fatalf("replay not a duplicate: %+v", res)
	}
	check("a duplicate still says how far the writer got", 9, 4)
	apply(t, s, batch("w1", 4, 3, 5, row(3, "loss", 0.7))) // stale figures (a bug, or a reordered replay)
	check("figures never go down", 9, 4)
	res, err := s.ApplyBatches(ctx, []store.Batch{{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w1", Seq: 5, Logged: 7, Spooled: 9, ProgressOnly: true}})
	if err != nil || res[0].Err != nil || res[0].Duplicate {
		t.Fatalf("progress-only batch: %+v, %v", res, err)
	}
	check("every record refused: no longer pending", 9, 7)
	apply(t, s, batch("w2", 1, 10, 30, row(10, "x", 1.0)))
	check("a second writer adds to the sums", 39, 17)
	settle(t, s)
	if got, _ := s.Run(ctx, r.RunKey); got.Points != 7 {
		t.Errorf("stored points = %d, want 7 (progress figures are apart from it)", got.Points)
	}
	if _, err := s.FinishRun(ctx, r.RunKey, store.RunFinish{State: store.StateFinished, Now: t0}); err != nil {
		t.Fatal(err)
	}
	res2 := apply(t, s, batch("w1", 6, 9, 9, row(4, "loss", 0.6)))
	if !errors.Is(res2.Err, store.ErrRunFinished) {
		t.Fatalf("batch after finish: %+v", res2)
	}
	check("a batch refused by a finished run is no longer pending", 39, 19)
	page, err := s.ListRuns(ctx, store.RunQuery{ProjectPK: r.ProjectPK, Limit: 10})
	if err != nil || len(page.Runs) != 1 || page.Runs[0].PointsLogged != 39 || page.Runs[0].PointsReceived != 19 {
		t.Errorf("ListRuns figures: %+v, %v", page.Runs, err)
	}
	if _, err := s.DeleteRun(ctx, r.RunKey, 1); err != nil {
		t.Fatal(err)
	}
	res, err = s.ApplyBatches(ctx, []store.Batch{{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w1", Seq: 7, Logged: 9, ProgressOnly: true}})
	if err != nil || !errors.Is(res[0].Err, store.ErrNotFound) {
		t.Errorf("progress for a deleted run: %+v, %v", res, err)
	}
	again := newRun(t, s, "p", "r", nil)
	if again.PointsLogged != 0 || again.PointsReceived != 0 {
		t.Errorf("a new run with the id inherited figures: %+v", again)
	}
}

func testFiles(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r := newRun(t, s, "p", "r1", nil)
	f := store.File{RunPK: r.PK, Name: "dir/model.pt", Size: 10, SHA256: "aa", BlobKey: "k1", ContentType: "application/octet-stream", UpdatedAt: t0}
	if err := s.PutFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Size, f.SHA256 = 20, "bb"
	if err := s.PutFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFile(ctx, store.File{RunPK: r.PK, Name: "a.txt", Size: 1, SHA256: "cc", BlobKey: "k2", UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	fs, err := s.ListFiles(ctx, r.PK)
	if err != nil || len(fs) != 2 || fs[0].Name != "a.txt" || fs[1].Size != 20 {
		t.Fatalf("ListFiles = %+v, %v", fs, err)
	}
	got, err := s.File(ctx, r.PK, "dir/model.pt")
	if err != nil || got.SHA256 != "bb" || !got.UpdatedAt.Equal(t0) {
		t.Errorf("File = %+v, %v", got, err)
	}
	if _, err := s.File(ctx, r.PK, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing file = %v", err)
	}
}

func testSettings(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	v, err := s.SettingOrInit(ctx, "k", []byte("first"))
	if err != nil || string(v) != "first" {
		t.Fatalf("init = %q, %v", v, err)
	}
	v, err = s.SettingOrInit(ctx, "k", []byte("second"))
	if err != nil || string(v) != "first" {
		t.Errorf("second init = %q, %v; want the first value kept", v, err)
	}
}

func testReopen(t *testing.T, s store.Store, reopen func() store.Store) {
	fixture(t, s)
	r := newRun(t, s, "p", "r1", map[string]any{"lr": 0.1})
	apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 1, History: []history.Row{row(0, "x", 1.0)}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := reopen()
	got, err := s2.Run(context.Background(), r.RunKey)
	if err != nil || got.Config["lr"] != 0.1 {
		t.Fatalf("after reopen run = %+v, %v", got, err)
	}
	if pts := scanAll(t, s2, r.PK, "x"); len(pts) != 1 {
		t.Errorf("after reopen %d points", len(pts))
	}
	if res := apply(t, s2, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 1}); !res.Duplicate {
		t.Error("dedup state lost on reopen")
	}
}

// testStepsAfterLast: a writer that resumed a run without knowing its last
// step logs from step 0; its points land after the run's, not over them.
func testStepsAfterLast(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := context.Background()
	fixture(t, s)
	r := newRun(t, s, "p", "r1", nil)
	batch := func(writer string, seq int64, steps ...int64) store.Batch {
		b := store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: writer, Seq: seq}
		for _, st := range steps {
			b.History = append(b.History, row(st, "x", float64(100*seq+st)))
		}
		return b
	}
	apply(t, s, batch("a", 2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9))
	resume := store.RunSpec{RunKey: r.RunKey, Resume: store.ResumeAllow, Op: store.OpID{Writer: "b", Seq: 1}, StepsAfterLast: true}
	if _, resumed, err := s.UpsertRun(ctx, resume); err != nil || !resumed {
		t.Fatalf("resume with StepsAfterLast = %v, resumed %v", err, resumed)
	}
	b := batch("b", 2, 0, 1, 2)
	apply(t, s, b)
	if b.History[0].Step != 0 {
		t.Errorf("the caller's batch was changed: step %d", b.History[0].Step)
	}
	// More of the first writer's data, then a replay of b's create: b's base stays at 10.
	apply(t, s, batch("a", 3, 20))
	if _, _, err := s.UpsertRun(ctx, resume); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("the create op again = %v, want ErrDuplicate", err)
	}
	apply(t, s, batch("b", 3, 3))
	got := map[int64]float64{}
	for _, p := range scanAll(t, s, r.PK, "x") {
		got[p.Step] = p.Value.Num
	}
	for st := int64(0); st < 10; st++ {
		if got[st] != float64(200+st) {
			t.Errorf("step %d = %v, want writer a's %d (not overwritten)", st, got[st], 200+st)
		}
	}
	for st, want := range map[int64]float64{10: 200, 11: 201, 12: 202, 13: 303, 20: 320} {
		if got[st] != want {
			t.Errorf("step %d = %v, want %v", st, got[st], want)
		}
	}
	if len(got) != 15 {
		t.Errorf("%d points, want 15: %v", len(got), got)
	}
	// On a run with no points yet there is nothing to go after.
	fresh := store.RunSpec{RunKey: store.RunKey{Entity: "alice", Project: "p", RunID: "r2"}, Resume: store.ResumeAllow,
		Op: store.OpID{Writer: "c", Seq: 1}, StepsAfterLast: true}
	r2, _, err := s.UpsertRun(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, s, store.Batch{RunPK: r2.PK, ProjectPK: r2.ProjectPK, Writer: "c", Seq: 2, History: []history.Row{row(0, "x", 1.0)}})
	if pts := scanAll(t, s, r2.PK, "x"); len(pts) != 1 || pts[0].Step != 0 {
		t.Errorf("fresh run's points = %+v, want step 0", pts)
	}
}
