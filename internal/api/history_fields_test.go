package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// fields= leaves columns out of the project history (a chart against steps
// needs no times); without it the response is what it always was.
func TestHistoryFields(t *testing.T) {
	e := newEnv(t, 8<<20)
	e.createRun("p", "r1")
	var rows []string
	for i := 0; i < 50; i++ {
		rows = append(rows, fmt.Sprintf(`{"step":%d,"time":%d,"values":{"loss":%g}}`, i, 1700000000+i, float64(i)/10))
	}
	if r := e.do("POST", "/api/v1/ingest", batchJSON("r1", 1, "["+strings.Join(rows, ",")+"]")); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	get := func(q string) (map[string]json.RawMessage, []byte) {
		t.Helper()
		r := e.do("GET", "/api/v1/projects/admin/p/history?runs=r1&keys=loss,ghost&points=20"+q, nil)
		if r.status != 200 {
			t.Fatalf("history%s = %d %s", q, r.status, r.body)
		}
		var body struct{ Series []map[string]json.RawMessage }
		if err := json.Unmarshal(r.body, &body); err != nil || len(body.Series) != 2 {
			t.Fatalf("history%s: %v %s", q, err, r.body)
		}
		return body.Series[0], r.body
	}
	all, allBody := get("")
	for _, f := range []string{"run", "key", "total", "sampled", "steps", "times", "values"} {
		if _, ok := all[f]; !ok {
			t.Errorf("default response lacks %q", f)
		}
	}
	if !bytes.Contains(allBody, []byte(`"key":"ghost","total":0,"sampled":false,"steps":[],"times":[],"values":[]`)) {
		t.Errorf("a key the run lacks no longer has empty columns: %s", allBody)
	}
	if _, same := get("&fields=steps,times,values"); !bytes.Equal(same, allBody) {
		t.Errorf("fields=steps,times,values differs from the default:\n%s\n%s", same, allBody)
	}
	sv, _ := get("&fields=steps,values")
	if _, ok := sv["times"]; ok {
		t.Error("fields=steps,values still sends times")
	}
	for _, f := range []string{"run", "key", "total", "sampled"} {
		if string(sv[f]) != string(all[f]) {
			t.Errorf("fields=steps,values: %s = %s, want %s", f, sv[f], all[f])
		}
	}
	if string(sv["steps"]) != string(all["steps"]) || string(sv["values"]) != string(all["values"]) {
		t.Errorf("fields=steps,values changed the columns: %s %s", sv["steps"], sv["values"])
	}
	v, _ := get("&fields=values")
	if _, ok := v["steps"]; ok || v["values"] == nil {
		t.Errorf("fields=values = %v", v)
	}
	if r := e.do("GET", "/api/v1/projects/admin/p/history?runs=r1&keys=loss&fields=steps,colour", nil); r.status != 400 {
		t.Errorf("fields=steps,colour = %d, want 400", r.status)
	}
}
