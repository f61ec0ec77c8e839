package spool_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/spool"
)

// writeSpool writes a one-segment spool of lines (after the header) to a
// new run directory and returns it.
func writeSpool(t *testing.T, lines ...string) string {
	t.Helper()
	dir := t.TempDir()
	hdr := `{"fluoro_spool":1,"entity":"admin","project":"p","run_id":"r1","writer":"host/1-ab","base_url":"","mode":"online","sdk":"t","acked":0,"created":1}`
	if err := os.MkdirAll(filepath.Join(dir, "spool"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := strings.Join(append([]string{hdr}, lines...), "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "spool", "000000000001.jsonl"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func syncDir(t *testing.T, s *spool.Syncer, dir string) spool.Result {
	t.Helper()
	sp, err := spool.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Sync(context.Background(), sp)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return res
}

type runState struct {
	State   string         `json:"state"`
	Summary map[string]any `json:"summary"`
}

// TestSyncReplaysOpsOnce: a spool read before its acks were written (as by
// a sync that races the live sender) replays ops the server already
// applied; with the op header they are duplicates, so newer values stay
// and a re-sent create does not reopen the finished run.
func TestSyncReplaysOpsOnce(t *testing.T) {
	hs, _ := startServer(t)
	s := &spool.Syncer{BaseURL: hs.URL, Key: key}
	ops := []string{
		`{"op":"create","seq":1,"body":{"id":"r1","resume":"allow"}}`,
		`{"op":"update","seq":2,"body":{"summary":{"acc":0.5}}}`,
		`{"op":"update","seq":3,"body":{"summary":{"acc":0.9}}}`,
		`{"op":"finish","seq":4,"body":{"exit_code":0}}`,
	}
	if res := syncDir(t, s, writeSpool(t, ops...)); res.Sent != 4 || res.Duplicates != 0 {
		t.Errorf("first sync: %+v; want 4 sent, no duplicates", res)
	}
	// The same records again, and a stale copy holding only the first two.
	for _, lines := range [][]string{ops, ops[:2]} {
		if res := syncDir(t, s, writeSpool(t, lines...)); res.Sent != len(lines) || res.Duplicates != len(lines) {
			t.Errorf("replaying %d ops: %+v; want every one sent and a duplicate", len(lines), res)
		}
		var run runState
		get(t, hs.URL+"/api/v1/projects/admin/p/runs/r1", &run)
		if run.State != "finished" || run.Summary["acc"] != 0.9 {
			t.Errorf("after replaying %d ops: state %q, acc %v; want finished with op 3's 0.9", len(lines), run.State, run.Summary["acc"])
		}
	}
}

// TestSyncRefinishesAfterDuplicateFinish: a batch refused by a finished
// run is sent after resuming it; when the spool's own finish record turns
// out to be applied already (a duplicate), sync finishes the run again
// itself rather than leaving it running.
func TestSyncRefinishesAfterDuplicateFinish(t *testing.T) {
	hs, _ := startServer(t)
	s := &spool.Syncer{BaseURL: hs.URL, Key: key}
	runs := hs.URL + "/api/v1/projects/admin/p/runs"
	for _, c := range []struct{ url, body, op string }{
		{runs, `{"id":"r1","resume":"allow"}`, "host%2F1-ab/1"},
		{runs + "/r1/finish", `{"exit_code":3}`, "host%2F1-ab/3"},
	} {
		req, _ := http.NewRequest("POST", c.url, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set(spool.OpHeader, c.op)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %v %v", c.url, res, err)
		}
		res.Body.Close()
	}
	dir := writeSpool(t,
		`{"op":"create","seq":1,"body":{"id":"r1","resume":"allow"}}`,
		`{"entity":"admin","project":"p","run_id":"r1","writer":"host/1-ab","seq":2,"history":[{"step":0,"values":{"x":1}}]}`,
		`{"op":"finish","seq":3,"body":{"exit_code":3}}`,
	)
	syncDir(t, s, dir)
	var run struct {
		State    string `json:"state"`
		ExitCode *int   `json:"exit_code"`
		Points   int64  `json:"points"`
	}
	get(t, runs+"/r1", &run)
	if run.State != "failed" || run.ExitCode == nil || *run.ExitCode != 3 || run.Points != 1 {
		t.Errorf("run = %+v; want failed with exit code 3 and the batch's point", run)
	}
}
