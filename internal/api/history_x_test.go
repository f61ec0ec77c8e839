package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestHistoryAgainstAnotherKey: x=KEY joins a series with another logged
// metric by step, after the fact, and returns that metric's value per point.
func TestHistoryAgainstAnotherKey(t *testing.T) {
	e := newEnv(t, 1<<20)
	e.createRun("p", "r1")
	e.createRun("p", "r2")
	var rows []string
	for s := 0; s < 100; s++ {
		v := fmt.Sprintf(`"loss":%d`, 1000-s)
		if s == 37 {
			v = `"loss":5000` // a spike at a step without an x value: not joined
		}
		if s%2 == 0 {
			v += fmt.Sprintf(`,"tokens":%d`, s*10) // x only on even steps
		}
		rows = append(rows, fmt.Sprintf(`{"step":%d,"values":{%s}}`, s, v))
	}
	if r := e.do("POST", "/api/v1/ingest", batchJSON("r1", 1, "["+strings.Join(rows, ",")+"]")); r.status != http.StatusOK {
		t.Fatalf("ingest: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/ingest", batchJSON("r2", 1, `[{"step":0,"values":{"loss":1}}]`)); r.status != http.StatusOK {
		t.Fatalf("ingest r2: %d %s", r.status, r.body)
	}
	type series struct {
		Run     string    `json:"run"`
		Total   int64     `json:"total"`
		Sampled bool      `json:"sampled"`
		Steps   []int64   `json:"steps"`
		Values  []float64 `json:"values"`
		Xs      []float64 `json:"xs"`
	}
	get := func(q string) []series {
		t.Helper()
		r := e.do("GET", "/api/v1/projects/admin/p/history?"+q, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		var out struct{ Series []series }
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		return out.Series
	}

	all := get("runs=r1,r2&keys=loss&x=tokens&points=20000")
	s := all[0]
	if s.Total != 50 || len(s.Steps) != 50 || len(s.Xs) != 50 || s.Sampled {
		t.Fatalf("every joined point: total %d, %d steps, %d xs, sampled %v", s.Total, len(s.Steps), len(s.Xs), s.Sampled)
	}
	for i, st := range s.Steps {
		if st%2 != 0 || s.Xs[i] != float64(st*10) || s.Values[i] != float64(1000-st) { // 5000 at step 37 never shows
			t.Fatalf("point %d: step %d x %g y %g", i, st, s.Xs[i], s.Values[i])
		}
	}
	if r2 := all[1]; len(r2.Steps) != 0 || r2.Total != 0 {
		t.Fatalf("a run without the x key has no joined points: %+v", r2)
	}

	// Downsampled: the buckets' extremes of the joined points, each with its own x.
	ds := get("runs=r1&keys=loss&x=tokens&points=8")[0]
	if !ds.Sampled || ds.Total != 50 || len(ds.Steps) > 8 || len(ds.Steps) != len(ds.Xs) {
		t.Fatalf("downsampled: %+v", ds)
	}
	for i, st := range ds.Steps {
		if ds.Xs[i] != float64(st*10) {
			t.Fatalf("downsampled point %d: step %d has x %g", i, st, ds.Xs[i])
		}
	}
	if ds.Values[0] != 1000 || ds.Steps[len(ds.Steps)-1] != 98 {
		t.Fatalf("first and last joined points kept: %+v", ds)
	}

	// Without x nothing changes: no xs.
	if r := e.do("GET", "/api/v1/projects/admin/p/history?runs=r1&keys=loss&points=100", nil); strings.Contains(string(r.body), `"xs"`) {
		t.Fatalf("xs without x=: %s", r.body)
	}
	if r := e.do("GET", "/api/v1/projects/admin/p/history?runs=r1&keys=loss&x=", nil); r.status != http.StatusOK {
		t.Fatalf("an empty x is no x: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/projects/admin/p/history?runs=r1&keys=loss&x="+strings.Repeat("k", 600), nil); r.status != http.StatusBadRequest {
		t.Fatalf("a key over 512 bytes: %d %s", r.status, r.body)
	}
}
