package api_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestKeyTypesAndMediaHistory: key types on both keys endpoints, media
// values as JSON objects, the steps of a media key without its values, one
// value by step, and charts of media keys across runs.
func TestKeyTypesAndMediaHistory(t *testing.T) {
	e := newEnv(t, 8<<20)
	for _, run := range []string{"r1", "r2"} {
		e.createRun("p", run)
		var rows []string
		for i := 0; i < 100; i++ {
			vals := fmt.Sprintf(`"loss":%d`, i)
			if i%10 == 0 {
				vals += fmt.Sprintf(`,"img":{"_type":"image-file","path":"media/images/img_%d.png","width":8},"h":{"_type":"histogram","bins":[0,1,2],"values":[%d,1]}`, i, i)
			}
			if i == 99 {
				vals += `,"note":"done","ok":true`
			}
			rows = append(rows, fmt.Sprintf(`{"step":%d,"values":{%s}}`, i, vals))
		}
		if r := e.do("POST", "/api/v1/ingest", batchJSON(run, 1, "["+strings.Join(rows, ",")+"]")); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	pk := e.do("GET", "/api/v1/projects/admin/p/keys", nil)
	if want := `{"keys":["h","img","loss","note","ok"],"types":{"h":"histogram","img":"image-file","note":"string","ok":"bool"}}` + "\n"; string(pk.body) != want {
		t.Errorf("project keys = %s, want %s", pk.body, want)
	}
	rk := e.do("GET", "/api/v1/projects/admin/p/runs/r1/keys", nil)
	for _, want := range []string{`{"key":"img","points":10,"min_step":0,"max_step":90,"type":"image-file"}`,
		`{"key":"loss","points":100,"min_step":0,"max_step":99,"type":"number"}`, `"type":"bool"`} {
		if !strings.Contains(string(rk.body), want) {
			t.Errorf("run keys = %s, want %s in it", rk.body, want)
		}
	}
	hist := func(query string) []map[string]any {
		t.Helper()
		r := e.do("GET", query, nil)
		if r.status != 200 {
			t.Fatalf("GET %s = %d %s", query, r.status, r.body)
		}
		var out []map[string]any
		for _, s := range r.json(t)["series"].([]any) {
			out = append(out, s.(map[string]any))
		}
		return out
	}
	img := func(step int) map[string]any {
		return map[string]any{"_type": "image-file", "path": fmt.Sprintf("media/images/img_%d.png", step), "width": 8.0}
	}
	steps := func(from, to, by int) []any {
		var out []any
		for s := from; s <= to; s += by {
			out = append(out, float64(s))
		}
		return out
	}
	const run1 = "/api/v1/projects/admin/p/runs/r1/history?"
	// Every value, as JSON objects.
	all := hist(run1 + "keys=img")[0]
	if diff := cmp.Diff(steps(0, 90, 10), all["steps"]); diff != "" {
		t.Errorf("img steps (-want +got):\n%s", diff)
	}
	if vals := all["values"].([]any); len(vals) != 10 || !cmp.Equal(vals[3], any(img(30))) {
		t.Errorf("img values = %v", vals)
	}
	// Which steps hold an image, without the values.
	so := hist(run1 + "keys=img,loss&steps_only=true&min_step=20&max_step=50")
	if diff := cmp.Diff(steps(20, 50, 10), so[0]["steps"]); diff != "" || len(so[0]["values"].([]any)) != 0 || len(so[0]["times"].([]any)) != 4 || so[0]["total"] != 4.0 {
		t.Errorf("steps_only img = %v (-want +got steps):\n%s", so[0], diff)
	}
	if n := len(so[1]["steps"].([]any)); n != 31 {
		t.Errorf("steps_only loss has %d steps, want 31", n)
	}
	// One value by its step.
	one := hist(run1 + "keys=img&min_step=40&max_step=40")[0]
	if diff := cmp.Diff([]any{img(40)}, one["values"]); diff != "" {
		t.Errorf("value at step 40 (-want +got):\n%s", diff)
	}
	if none := hist(run1 + "keys=img&min_step=41&max_step=41")[0]; len(none["values"].([]any)) != 0 {
		t.Errorf("value at step 41 = %v", none["values"])
	}
	// Downsampled, one run and several: one value per bucket, whole.
	for _, q := range []string{run1 + "keys=img&points=8", "/api/v1/projects/admin/p/history?runs=r1,r2&keys=img,h&points=8"} {
		for _, s := range hist(q) {
			vals := s["values"].([]any)
			if s["sampled"] != true || s["total"] != 10.0 || len(vals) != 2 {
				t.Errorf("%s: %s/%s sampled %v total %v, %d values", q, s["run"], s["key"], s["sampled"], s["total"], len(vals))
				continue
			}
			for i, v := range vals {
				m, ok := v.(map[string]any)
				if !ok || m["_type"] == nil {
					t.Errorf("%s: %s value %d = %v, want a JSON object", q, s["key"], i, v)
				}
			}
			if s["key"] == "img" && !cmp.Equal(vals[0], any(img(0))) {
				t.Errorf("first bucket = %v", vals[0])
			}
		}
	}
	for _, bad := range []string{"keys=img&steps_only=true&points=100", "keys=img&steps_only=maybe"} {
		if r := e.do("GET", run1+bad, nil); r.status != 400 {
			t.Errorf("%s = %d", bad, r.status)
		}
	}
	// NDJSON export carries media as objects too.
	nd := e.do("GET", run1+"format=ndjson&keys="+url.QueryEscape("img"), nil)
	if !strings.Contains(string(nd.body), `"value":{"_type":"image-file","path":"media/images/img_0.png","width":8}`) {
		t.Errorf("ndjson = %.300s", nd.body)
	}
}
