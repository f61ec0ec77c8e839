package api_test

import (
	"net/http"
	"testing"
)

// TestOpsAppliedOnce replays spooled ops the way `fluoro sync` can while the
// run is alive: an older op arrives again after newer ones were applied.
// With X-Fluoro-Op the server applies each (run, writer, seq) once, so the
// newer values stay and a re-sent create does not reopen a finished run.
func TestOpsAppliedOnce(t *testing.T) {
	e := newEnv(t, 0)
	runs := "/api/v1/projects/admin/p/runs"
	run := runs + "/r1"
	create := []byte(`{"id":"r1","resume":"allow","config":{"lr":0.1}}`)
	steps := []struct {
		name, method, path, body, op string
		status                       int
		dup                          any // the answer's "duplicate": nil when absent
	}{
		{"create, op 1", "POST", runs, string(create), "host-1-ab/1", 201, false},
		{"update, op 2", "PATCH", run, `{"summary":{"acc":0.5},"notes":"old"}`, "host-1-ab/2", 200, false},
		{"update, op 3", "PATCH", run, `{"summary":{"acc":0.9},"notes":"new"}`, "host-1-ab/3", 200, false},
		{"update, op 2 again", "PATCH", run, `{"summary":{"acc":0.5},"notes":"old"}`, "host-1-ab/2", 200, true},
		{"finish, op 4", "POST", run + "/finish", `{"exit_code":0}`, "host-1-ab/4", 200, false},
		{"create, op 1 again", "POST", runs, string(create), "host-1-ab/1", 200, true},
		{"finish, op 4 again", "POST", run + "/finish", `{"state":"crashed"}`, "host-1-ab/4", 200, true},
		{"percent-encoded writer", "PATCH", run, `{"tags":["t"]}`, "host%2F1-ab/9", 200, false},
		{"same writer, decoded", "PATCH", run, `{"tags":["u"]}`, "host/1-ab/9", 200, true},
		{"no op: applied every time", "PATCH", run, `{"group":"g"}`, "", 200, nil},
		{"no op: applied every time, again", "PATCH", run, `{"group":"g"}`, "", 200, nil},
		{"bad op header", "PATCH", run, `{"group":"h"}`, "host-1-ab", 400, nil},
		{"negative seq", "PATCH", run, `{"group":"h"}`, "w/-1", 400, nil},
		{"empty writer", "PATCH", run, `{"group":"h"}`, "/5", 400, nil},
		{"writer not UTF-8", "PATCH", run, `{"group":"h"}`, "%ff%fe/5", 400, nil},
		{"seq not a number", "PATCH", run, `{"group":"h"}`, "w/five", 400, nil},
	}
	for _, s := range steps {
		r := e.do(s.method, s.path, []byte(s.body), "X-Fluoro-Op", s.op)
		if r.status != s.status {
			t.Fatalf("%s: %d %s, want %d", s.name, r.status, r.body, s.status)
		}
		if s.status >= 300 {
			continue
		}
		if got := r.json(t)["duplicate"]; got != s.dup {
			t.Errorf("%s: duplicate = %v, want %v", s.name, got, s.dup)
		}
	}
	got := e.do("GET", run, nil).json(t)
	if got["state"] != "finished" || got["exit_code"] != 0.0 {
		t.Errorf("run = %v (exit %v); want finished by op 4, not reopened by the repeated create", got["state"], got["exit_code"])
	}
	if acc := got["summary"].(map[string]any)["acc"]; acc != 0.9 || got["notes"] != "new" {
		t.Errorf("summary acc %v, notes %v; want op 3's 0.9 and new", acc, got["notes"])
	}
	if tags := got["tags"].([]any); len(tags) != 1 || tags[0] != "t" || got["group"] != "g" {
		t.Errorf("tags %v group %v; want [t] and g", tags, got["group"])
	}

	// Ops and batches of a writer share one seq space.
	if r := e.do("POST", "/api/v1/ingest", batchJSON("r1", 20, `[]`)); r.status != http.StatusConflict {
		t.Fatalf("batch into the finished run: %d %s", r.status, r.body) // not recorded: refused
	}
	if r := e.do("PATCH", run, []byte(`{"notes":"seq 20"}`), "X-Fluoro-Op", "w/20"); r.status != 200 || r.json(t)["duplicate"] != false {
		t.Fatalf("op with a refused batch's seq: %d %s", r.status, r.body)
	}
}

// TestIngestAnswersTheHighestDurableSeq: the answer carries the writer's
// highest sequence applied to the run, batches and ops together, so a retry
// of an older batch that arrives after newer ones says how far the writer is.
func TestIngestAnswersTheHighestDurableSeq(t *testing.T) {
	e := newEnv(t, 0)
	runs := "/api/v1/projects/admin/p/runs"
	if r := e.do("POST", runs, []byte(`{"id":"r1"}`)); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	steps := []struct {
		name       string
		body       []byte
		op         string
		seq, dur   float64
		duplicated bool
	}{
		{"first batch", batchJSON("r1", 2, `[{"step":0,"values":{"x":1}}]`), "", 2, 2, false},
		{"a newer batch", batchJSON("r1", 5, `[{"step":1,"values":{"x":2}}]`), "", 5, 5, false},
		{"an older batch, late", batchJSON("r1", 3, `[{"step":2,"values":{"x":3}}]`), "", 3, 5, false},
		{"a retry of seq 2", batchJSON("r1", 2, `[{"step":0,"values":{"x":1}}]`), "", 2, 5, true},
	}
	for _, s := range steps {
		r := e.do("POST", "/api/v1/ingest", s.body)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", s.name, r.status, r.body)
		}
		got := r.json(t)
		if got["seq"] != s.seq || got["durable_seq"] != s.dur || got["duplicate"] != s.duplicated {
			t.Errorf("%s: seq %v durable_seq %v duplicate %v; want %v, %v, %v", s.name, got["seq"], got["durable_seq"],
				got["duplicate"], s.seq, s.dur, s.duplicated)
		}
	}
	// An op with a higher seq raises it for the next batch's answer.
	if r := e.do("PATCH", runs+"/r1", []byte(`{"notes":"n"}`), "X-Fluoro-Op", "w/9"); r.status != http.StatusOK {
		t.Fatalf("op 9: %d %s", r.status, r.body)
	}
	if got := e.do("POST", "/api/v1/ingest", batchJSON("r1", 6, `[]`)).json(t); got["durable_seq"] != 9.0 {
		t.Errorf("after op 9, a batch's durable_seq = %v, want 9", got["durable_seq"])
	}
}

// TestStepsAfterLastNeedsTheWriter: moving a writer's steps needs to know the writer.
func TestStepsAfterLastNeedsTheWriter(t *testing.T) {
	e := newEnv(t, 0)
	runs := "/api/v1/projects/admin/p/runs"
	body := []byte(`{"id":"r1","resume":"allow","steps_after_last":true}`)
	if r := e.do("POST", runs, body); r.status != http.StatusBadRequest {
		t.Fatalf("without X-Fluoro-Op: %d %s, want 400", r.status, r.body)
	}
	if r := e.do("POST", runs, body, "X-Fluoro-Op", "w/1"); r.status != http.StatusCreated {
		t.Fatalf("with X-Fluoro-Op: %d %s", r.status, r.body)
	}
}
