package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRunGroups groups a project's runs by a config path, a nested one,
// tags and state: labels as the web UI writes them, every matching run,
// groups in the order of their first run in the sort's order.
func TestRunGroups(t *testing.T) {
	e := newEnv(t, 1<<20)
	mk := func(id, body string) {
		t.Helper()
		if r := e.do("POST", "/api/v1/projects/admin/p/runs", []byte(fmt.Sprintf(`{"id":%q,%s}`, id, body))); r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", id, r.status, r.body)
		}
	}
	mk("a", `"config":{"lr":0.1,"opt":{"name":"adam"},"arch":[2,3]},"tags":["x","b"]`)
	mk("b", `"config":{"lr":1e-7,"opt":{"name":"sgd"},"arch":[2,3]},"tags":["b","x"]`)
	mk("c", `"config":{"lr":0.1,"opt":{"name":"adam","b":true},"arch":{"d":1,"c":"<a>"}}`)
	mk("d", `"config":{"lr":"","opt":{"name":"adam"}}`)
	mk("e", `"config":{"lr":100000000000000000000000}`)
	get := func(q url.Values) (int, map[string]any) {
		t.Helper()
		r := e.do("GET", "/api/v1/projects/admin/p/run-groups?"+q.Encode(), nil)
		var out map[string]any
		if r.status == 200 {
			if err := json.Unmarshal(r.body, &out); err != nil {
				t.Fatal(err)
			}
		}
		return r.status, out
	}
	groups := func(by, filter, sort string) any {
		t.Helper()
		st, out := get(url.Values{"by": {by}, "filter": {filter}, "sort": {sort}})
		if st != 200 {
			t.Fatalf("by=%s: %d", by, st)
		}
		return out["groups"]
	}
	type g = map[string]any
	ids := func(s ...string) []any {
		out := []any{}
		for _, x := range s {
			out = append(out, x)
		}
		return out
	}
	for _, c := range []struct {
		by, filter, sort string
		want             []any
	}{
		{"config.lr", "", "id", []any{g{"label": "0.1", "runs": ids("a", "c")}, g{"label": "1e-7", "runs": ids("b")}, g{"label": "(none)", "runs": ids("d")}, g{"label": "1e+23", "runs": ids("e")}}},
		{"config.lr", "", "-id", []any{g{"label": "1e+23", "runs": ids("e")}, g{"label": "(none)", "runs": ids("d")}, g{"label": "0.1", "runs": ids("c", "a")}, g{"label": "1e-7", "runs": ids("b")}}},
		{"config.opt.name", `config.lr = 0.1`, "id", []any{g{"label": "adam", "runs": ids("a", "c")}}},
		// c's arch is an object: flattened to arch.c and arch.d, so it has no arch of its own.
		{"config.arch", "", "id", []any{g{"label": "[2,3]", "runs": ids("a", "b")}, g{"label": "(none)", "runs": ids("c", "d", "e")}}},
		{"tags", "", "id", []any{g{"label": "b, x", "runs": ids("a", "b")}, g{"label": "(none)", "runs": ids("c", "d", "e")}}},
		{"state", "", "id", []any{g{"label": "running", "runs": ids("a", "b", "c", "d", "e")}}},
	} {
		got := groups(c.by, c.filter, c.sort)
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("by=%s filter=%q sort=%s (-want +got):\n%s", c.by, c.filter, c.sort, diff)
		}
	}
	// One (none) group, however far apart its runs; "<a>" as it is (no HTML escaping).
	if got, want := groups("config.arch.c", "", "id"), []any{g{"label": "(none)", "runs": ids("a", "b", "d", "e")}, g{"label": "<a>", "runs": ids("c")}}; !cmp.Equal(got, want) {
		t.Errorf("by=config.arch.c: %v, want %v", got, want)
	}
	if st, out := get(url.Values{"by": {"config.lr"}}); st != 200 || out["total"] != float64(5) || out["truncated"] != false {
		t.Errorf("total/truncated: %d %v", st, out)
	}
	for _, bad := range []url.Values{{"by": {"config."}}, {"by": {"name"}}, {}, {"by": {"state"}, "filter": {"config.lr >"}}, {"by": {"state"}, "sort": {"+"}}} {
		if r := e.do("GET", "/api/v1/projects/admin/p/run-groups?"+bad.Encode(), nil); r.status != 400 {
			t.Errorf("%v: %d %s, want 400", bad, r.status, r.body)
		}
	}
	if r := e.do("GET", "/api/v1/projects/admin/nope/run-groups?by=state", nil); r.status != 404 {
		t.Errorf("missing project: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/projects/admin/p/run-groups?by=state", nil, "Authorization", ""); r.status != 401 {
		t.Errorf("no key: %d", r.status)
	}
}
