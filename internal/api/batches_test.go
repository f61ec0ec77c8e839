package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestIngestBatches: several batches in one request, one per line, applied
// in their order; each line answered as POST /ingest would answer it alone,
// bad lines on their own.
func TestIngestBatches(t *testing.T) {
	e := newEnv(t, 1<<20)
	e.createRun("p", "r1")
	e.createRun("p", "done")
	if r := e.do("POST", "/api/v1/projects/admin/p/runs/done/finish", []byte(`{}`)); r.status != 200 {
		t.Fatal(r.status)
	}
	line := func(run string, seq, logged int, values string) string {
		return fmt.Sprintf(`{"entity":"admin","project":"p","run_id":%q,"writer":"w","seq":%d,"logged":%d,"history":[{"step":0,"values":%s}]}`,
			run, seq, logged, values)
	}
	lines := []string{
		line("r1", 1, 1, `{"loss":1}`),
		line("r1", 2, 2, `{"loss":2}`),    // the same step again: the later line wins
		`{"entity":"admin","project":"p"`, // not JSON
		line("nope", 1, 1, `{"loss":1}`),  // no such run
		line("r1", 3, 3, `{"":1}`),        // every record rejected
		line("done", 1, 1, `{"loss":1}`),  // a finished run
		line("r1", 2, 2, `{"loss":2}`),    // a replay
		"",                                // blank lines are skipped
		line("r1", 4, 5, `{"loss":4,"acc":0.5}`),
	}
	r := e.do("POST", "/api/v1/ingest/batches", []byte(strings.Join(lines, "\n")+"\n"), "X-Fluoro-Spooled", "9")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var out struct {
		Results []struct {
			Status    int  `json:"status"`
			Seq       int  `json:"seq"`
			Duplicate bool `json:"duplicate"`
			Accepted  int  `json:"accepted"`
			Error     *struct{ Code, Message string }
		}
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status int
		code   string
	}{{200, ""}, {200, ""}, {400, "bad_data"}, {404, "not_found"}, {422, "unprocessable"}, {409, "run_finished"}, {200, ""}, {200, ""}}
	if len(out.Results) != len(want) {
		t.Fatalf("%d results, want %d: %s", len(out.Results), len(want), r.body)
	}
	for i, w := range want {
		got := out.Results[i]
		if got.Status != w.status || (w.code != "") != (got.Error != nil) || (got.Error != nil && (got.Error.Code != w.code || got.Error.Message == "")) {
			t.Errorf("line %d: %+v; want %d %s", i, got, w.status, w.code)
		}
	}
	if !out.Results[6].Duplicate || out.Results[6].Accepted != 0 || out.Results[1].Accepted != 1 || out.Results[7].Seq != 4 {
		t.Errorf("acks: %s", r.body)
	}
	h := e.do("GET", "/api/v1/projects/admin/p/runs/r1/history?keys=loss", nil).json(t)
	if got := fmt.Sprint(h["series"]); !strings.Contains(got, "values:[4]") {
		t.Errorf("history after the lines = %s; want the last line's loss 4 at step 0", got)
	}
	run := e.do("GET", "/api/v1/projects/admin/p/runs/r1", nil).json(t)
	if run["points_logged"] != 9.0 || run["points_received"] != 5.0 {
		t.Errorf("figures: logged %v received %v; want 9, 5", run["points_logged"], run["points_received"])
	}
	for _, c := range []struct{ body, want string }{
		{"", "no batches"},
		{"\n\n", "no batches"},
		{strings.Repeat(line("r1", 9, 9, `{"x":1}`)+"\n", 10_001), "at most 10000"},
	} {
		big := newEnv(t, 64<<20)
		big.createRun("p", "r1")
		r := big.do("POST", "/api/v1/ingest/batches", []byte(c.body))
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), c.want) {
			t.Errorf("%.20q: %d %s", c.body, r.status, r.body)
		}
	}
}
