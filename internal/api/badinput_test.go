package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// snapshot is everything the API shows about the store, keyed by the
// request that showed it: entities, projects, every run of every project
// (finished ones included) with its history, keys, console lines, system
// samples, files and file contents, and the 404s of names that must not
// come into being. Signed links are left out: their expiry moves with the
// clock.
func (e *env) snapshot() map[string]any {
	e.t.Helper()
	out := map[string]any{}
	get := func(path string) any {
		r := e.do("GET", path, nil)
		if r.status != 200 {
			e.t.Fatalf("snapshot: GET %s = %d %s", path, r.status, r.body)
		}
		var v any
		if err := json.Unmarshal(r.body, &v); err != nil {
			e.t.Fatalf("snapshot: GET %s: %v", path, err)
		}
		out[path] = v
		return v
	}
	for _, ent := range get("/api/v1/entities").(map[string]any)["entities"].([]any) {
		entity := ent.(map[string]any)["name"].(string)
		for _, p := range get("/api/v1/entities/" + entity + "/projects").(map[string]any)["projects"].([]any) {
			proj := "/api/v1/projects/" + entity + "/" + p.(map[string]any)["name"].(string)
			get(proj)
			get(proj + "/keys")
			for _, run := range get(proj + "/runs?limit=1000&sort=id").(map[string]any)["runs"].([]any) {
				rp := proj + "/runs/" + run.(map[string]any)["id"].(string)
				get(rp)
				get(rp + "/history")
				get(rp + "/keys")
				get(rp + "/console?limit=10000")
				get(rp + "/system")
				for _, f := range get(rp + "/files").(map[string]any)["files"].([]any) {
					fm := f.(map[string]any)
					delete(fm, "url")
					body := e.do("GET", rp+"/files/"+fm["name"].(string), nil).body
					sum := sha256.Sum256(body)
					out[rp+"/files/"+fm["name"].(string)] = hex.EncodeToString(sum[:])
				}
			}
		}
	}
	for _, p := range []string{
		"/api/v1/projects/nobody/p", "/api/v1/projects/admin/newproj",
		"/api/v1/projects/admin/p/runs/ghost", "/api/v1/projects/admin/newproj/runs/r1",
	} {
		out[p] = e.do("GET", p, nil).status
	}
	return out
}

// seedBadInputStore gives the store something of every kind to lose: two
// projects, a running and a finished run with config, summary, history,
// console lines, system samples and files.
func seedBadInputStore(t *testing.T, e *env) {
	t.Helper()
	e.createRun("p", "r1")
	e.createRun("p", "done")
	e.createRun("q", "other")
	for _, b := range []struct{ project, run, body string }{
		{"p", "r1", `"history":[{"step":0,"values":{"loss":1.0,"acc":0.5}}],"summary":{"best":1},
			"console":[{"time":1,"line":"epoch 1"}],"system":[{"time":1,"values":{"cpu":12.5}}]`},
		{"p", "done", `"history":[{"step":0,"values":{"val/loss":2.0}},{"step":1,"values":{"val/loss":1.5}}],
			"console":[{"time":1,"stream":"stderr","line":"done soon"}]`},
		{"q", "other", `"history":[{"step":3,"values":{"q":3}}]`},
	} {
		body := fmt.Sprintf(`{"entity":"admin","project":%q,"run_id":%q,"writer":"w","seq":1,%s}`, b.project, b.run, b.body)
		if r := e.do("POST", "/api/v1/ingest", []byte(body)); r.status != 200 {
			t.Fatalf("seed %s: %d %s", b.run, r.status, r.body)
		}
	}
	for _, f := range []struct{ run, name, body string }{{"r1", "ckpt/model.txt", "weights"}, {"done", "out.txt", "result"}} {
		if r := e.do("PUT", "/api/v1/projects/admin/p/runs/"+f.run+"/files/"+f.name, []byte(f.body)); r.status != 200 {
			t.Fatalf("seed file %s: %d %s", f.name, r.status, r.body)
		}
	}
	if r := e.do("POST", "/api/v1/projects/admin/p/runs/done/finish", []byte(`{}`)); r.status != 200 {
		t.Fatalf("finish: %d %s", r.status, r.body)
	}
}

// TestIngestBadInput sends one bad batch after another and checks that each
// gets a clear 4xx (or is acknowledged without effect) and that nothing the
// API can show changes: not the target run, not the finished run, not the
// other project, and no entity, project or run comes into being.
func TestIngestBadInput(t *testing.T) {
	e := newEnv(t, 4<<20)
	seedBadInputStore(t, e)
	var wide strings.Builder
	for i := 0; i < 100000; i++ {
		fmt.Fprintf(&wide, `,"k%d":1`, i)
	}
	raw := func(fields string) []byte {
		return []byte(`{"entity":"admin","project":"p","run_id":"r1","writer":"w",` + fields + `}`)
	}
	cases := []struct {
		name      string
		body      []byte
		want      int
		contains  string
		heartbeat bool // accepted: moves r1's heartbeat_at and updated_at, nothing else
	}{
		{"malformed JSON", []byte(`{"entity":"admin",`), 400, "malformed JSON", false},
		{"history an object", raw(`"seq":2,"history":{"step":1}`), 400, "must be", false},
		{"string step", batchJSON("r1", 2, `[{"step":"1","values":{"x":1}}]`), 400, "history[0].step must be a number", false},
		{"array as a row", batchJSON("r1", 2, `[[1,2]]`), 400, "history[0] must be an object", false},
		{"number as the key map", batchJSON("r1", 2, `[{"step":1,"values":5}]`), 400, "history[0].values must be an object", false},
		{"array as the key map", batchJSON("r1", 2, `[{"step":1,"values":[1]}]`), 400, "history[0].values must be an object", false},
		{"string time", batchJSON("r1", 2, `[{"step":1,"time":"now","values":{"x":1}}]`), 400, "history[0].time must be a number", false},
		{"fractional step", batchJSON("r1", 2, `[{"step":1.5,"values":{"x":1}}]`), 422, "must be an integer", false},
		{"string seq", raw(`"seq":"2"`), 400, `\"seq\" must be a non-negative integer`, false},
		{"number run id", []byte(`{"entity":"admin","project":"p","run_id":7,"writer":"w","seq":2}`), 400, `\"run_id\" must be a string`, false},
		{"array summary", raw(`"seq":2,"summary":[1]`), 400, "summary", false},
		{"object console", raw(`"seq":2,"console":{"line":"x"}`), 400, "console", false},
		{"number console line", raw(`"seq":2,"console":[{"line":5}]`), 400, "console.line", false},
		{"string system values", raw(`"seq":2,"system":[{"values":"x"}]`), 400, "system.values", false},
		{"array batch", []byte(`[]`), 400, "must be an object", false},
		{"unknown field", raw(`"seq":2,"bogus":1`), 400, `unknown field \"bogus\"`, false},
		{"unknown run", batchJSON("ghost", 2, `[{"step":1,"values":{"x":1}}]`), 404, "not found", false},
		{"unknown project", []byte(`{"entity":"admin","project":"newproj","run_id":"r1","writer":"w","seq":2,"history":[{"step":1,"values":{"x":1}}]}`), 404, "not found", false},
		{"unknown entity", []byte(`{"entity":"nobody","project":"p","run_id":"r1","writer":"w","seq":7}`), 404, "entity", false},
		{"finished run", batchJSON("done", 2, `[{"step":1,"values":{"x":1}}]`), 409, "run_finished", false},
		{"finished run, empty batch", batchJSON("done", 3, `[]`), 409, "run_finished", false},
		{"duplicate sequence", batchJSON("r1", 1, `[{"step":0,"values":{"loss":999}}]`), 200, `"duplicate":true,"accepted":0`, false},
		{"over the size limit", batchJSON("r1", 3, `[{"step":1,"values":{"s":"`+strings.Repeat("x", 5<<20)+`"}}]`), 413, "too_large", false},
		{"100k keys in one row", batchJSON("r1", 4, `[{"step":1,"values":{"k":0`+wide.String()+`}}]`), 422, "at most", false},
		{"invalid UTF-8", batchJSON("r1", 5, `[{"step":1,"values":{"`+"\xff"+`":1}}]`), 400, "UTF-8", false},
		{"every record bad", batchJSON("r1", 6, `[{"step":-1,"values":{"x":1}}]`), 422, "history[0]", false},
		{"too deep", batchJSON("r1", 8, `[{"step":1,"values":{"x":`+strings.Repeat("[", 200)+strings.Repeat("]", 200)+`}}]`), 400, "nested deeper", false},
		{"empty batch", batchJSON("r1", 10, `[]`), 200, `"accepted":0`, true},
		{"empty batch repeated", batchJSON("r1", 10, `[]`), 200, `"duplicate":true,"accepted":0`, false},
	}
	before := e.snapshot()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.heartbeat {
				waitNextMilli(t, before)
			}
			r := e.do("POST", "/api/v1/ingest", c.body)
			if r.status != c.want || !strings.Contains(string(r.body), c.contains) {
				t.Fatalf("status %d body %.300s; want %d containing %q", r.status, r.body, c.want, c.contains)
			}
			after := e.snapshot()
			want := before
			if c.heartbeat {
				want = heartbeatOf(t, before, after, "/api/v1/projects/admin/p", "r1")
			}
			if diff := cmp.Diff(want, after); diff != "" {
				t.Fatalf("the store changed (-want +got):\n%s", diff)
			}
			before = after
		})
	}
	// The server is unharmed: good data still goes in.
	if r := e.do("POST", "/api/v1/ingest", batchJSON("r1", 9, `[{"step":1,"values":{"loss":0.5}}]`)); r.status != 200 {
		t.Fatalf("after bad input: %d %s", r.status, r.body)
	}
}

// TestFilterBadInput sends SQL-ish and malformed filters and sorts: each
// gets a clear answer (a 400 that says what is wrong, or an empty page for
// a well-formed filter on a key nobody has) and the store is intact.
func TestFilterBadInput(t *testing.T) {
	e := newEnv(t, 1<<20)
	seedBadInputStore(t, e)
	cases := []struct {
		name, query string
		want        int
		contains    string
	}{
		{"quoted path, no operator", "filter=" + url.QueryEscape(`config."x') OR 1=1 --"`), 400, "expected an operator"},
		{"quoted path compared", "filter=" + url.QueryEscape(`config."x') OR 1=1 --" = 1`), 200, `"total":0`},
		{"quoted path exists", "filter=" + url.QueryEscape(`config."x') OR 1=1 --" exists`), 200, `"total":0`},
		// A run without the key matches != (docs/api.md): the path is data.
		{"quoted summary path", "filter=" + url.QueryEscape(`summary."best'; DROP TABLE runs; --" != 0`), 200, `"total":2`},
		{"quote inside a quoted path", "filter=" + url.QueryEscape(`summary."a"" OR 1=1" != 0`), 400, "expected an operator"},
		{"SQL in a value", "filter=" + url.QueryEscape(`name = "x' OR '1'='1"`), 200, `"total":0`},
		{"SQL after a comparison", "filter=" + url.QueryEscape(`config.lr = 0.1; DROP TABLE runs`), 400, "filter"},
		{"quoted sort path", "sort=" + url.QueryEscape(`config."x') OR 1=1 --"`), 200, `"total":2`},
		{"SQL in a sort", "sort=" + url.QueryEscape(`id; DROP TABLE runs`), 400, "unexpected character ';'"},
		{"still intact", "filter=" + url.QueryEscape(`config.lr = 0.1`), 200, `"total":2`},
	}
	before := e.snapshot()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("GET", "/api/v1/projects/admin/p/runs?"+c.query, nil)
			if r.status != c.want || !strings.Contains(string(r.body), c.contains) {
				t.Fatalf("status %d body %.300s; want %d containing %q", r.status, r.body, c.want, c.contains)
			}
			if diff := cmp.Diff(before, e.snapshot()); diff != "" {
				t.Fatalf("the store changed (-want +got):\n%s", diff)
			}
		})
	}
}

// heartbeatOf returns before with run's heartbeat_at and updated_at (in
// the run and in its project's run list) taken from after, checking that
// both moved forward: all a heartbeat may change.
func heartbeatOf(t *testing.T, before, after map[string]any, project, run string) map[string]any {
	t.Helper()
	var want map[string]any
	b, _ := json.Marshal(before)
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	// JSON numbers round-trip as float64 either way; ints (statuses) need
	// the same type as in after.
	for k, v := range before {
		if n, ok := v.(int); ok {
			want[k] = n
		}
	}
	copyTimes := func(w, a, old map[string]any) {
		for _, f := range []string{"heartbeat_at", "updated_at"} {
			if !parseTime(t, a[f]).After(parseTime(t, old[f])) {
				t.Errorf("%s: %v, not after %v", f, a[f], old[f])
			}
			w[f] = a[f]
		}
	}
	rp := project + "/runs/" + run
	copyTimes(want[rp].(map[string]any), after[rp].(map[string]any), before[rp].(map[string]any))
	list := project + "/runs?limit=1000&sort=id"
	for i, r := range want[list].(map[string]any)["runs"].([]any) {
		if r.(map[string]any)["id"] == run {
			copyTimes(r.(map[string]any), after[list].(map[string]any)["runs"].([]any)[i].(map[string]any),
				before[list].(map[string]any)["runs"].([]any)[i].(map[string]any))
		}
	}
	return want
}

func parseTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %v: %v", v, err)
	}
	return tm
}

// waitNextMilli returns once the clock is past every run's heartbeat in
// snap by at least a millisecond (the store's resolution), so a heartbeat
// shows as a change. It spins: the wait is under a millisecond.
func waitNextMilli(t *testing.T, snap map[string]any) {
	t.Helper()
	var last time.Time
	for k, v := range snap {
		if m, ok := v.(map[string]any); ok && strings.Contains(k, "/runs/") {
			if hb, ok := m["heartbeat_at"]; ok && parseTime(t, hb).After(last) {
				last = parseTime(t, hb)
			}
		}
	}
	for !time.Now().Truncate(time.Millisecond).After(last) {
	}
}
