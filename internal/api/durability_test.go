package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/api"
)

// TestPointsPending: a batch's logged field and the X-Fluoro-Spooled header
// become the run's points_logged, points_received and points_pending; a
// batch refused as a whole is no longer pending; a bad header is a 400 that
// names it and stores nothing.
func TestPointsPending(t *testing.T) {
	e := newEnv(t, 1<<20)
	run := e.createRun("p", "r1")
	if _, ok := run["points_logged"]; ok {
		t.Errorf("a run no writer reported on shows figures: %v", run)
	}
	send := func(seq, logged int, spooled string, history string) resp {
		t.Helper()
		body := fmt.Sprintf(`{"entity":"admin","project":"p","run_id":"r1","writer":"w","seq":%d,"logged":%d,"history":%s}`, seq, logged, history)
		return e.do("POST", "/api/v1/ingest", []byte(body), api.SpooledHeader, spooled)
	}
	figures := func(what string, logged, received, pending float64) {
		t.Helper()
		r := e.do("GET", "/api/v1/projects/admin/p/runs/r1", nil).json(t)
		if r["points_logged"] != logged || r["points_received"] != received || r["points_pending"] != pending {
			t.Errorf("%s: logged %v, received %v, pending %v; want %v, %v, %v", what,
				r["points_logged"], r["points_received"], r["points_pending"], logged, received, pending)
		}
		list := e.do("GET", "/api/v1/projects/admin/p/runs", nil).json(t)
		if got := list["runs"].([]any)[0].(map[string]any)["points_pending"]; got != pending {
			t.Errorf("%s: the runs list says pending %v, want %v", what, got, pending)
		}
	}
	if r := send(1, 2, "10", `[{"step":0,"values":{"loss":1,"acc":0}}]`); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	figures("first batch, 8 more spooled", 10, 2, 8)
	if r := send(2, 4, "bad", `[{"step":1,"values":{"loss":0.5,"acc":0.5}}]`); r.status != http.StatusBadRequest ||
		!strings.Contains(string(r.body), api.SpooledHeader) {
		t.Fatalf("bad header: %d %s", r.status, r.body)
	}
	figures("after a refused header", 10, 2, 8)
	if r := e.do("GET", "/api/v1/projects/admin/p/runs/r1", nil).json(t); r["points"] != 2.0 || r["last_step"] != 0.0 {
		t.Errorf("the batch with the bad header was stored: points %v, last step %v", r["points"], r["last_step"])
	}
	if r := send(2, 4, "", `[{"step":1,"values":{"loss":0.5,"acc":0.5}}]`); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	figures("second batch, no header", 10, 4, 6)
	// every record refused: 422, and those points are answered for
	if r := send(3, 6, "10", `[{"step":-3,"values":{"loss":1}},{"step":1.5,"values":{"acc":1}}]`); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("all rows bad: %d %s", r.status, r.body)
	}
	figures("a batch refused as a whole", 10, 6, 4)
	if r := send(4, 10, "10", `[{"step":3,"values":{"loss":0.25,"acc":0.75}},{"step":4,"values":{"loss":0.2,"acc":0.8}}]`); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	figures("everything sent", 10, 10, 0)
	if r := send(4, 10, "12", `[{"step":3,"values":{"loss":0.25,"acc":0.75}},{"step":4,"values":{"loss":0.2,"acc":0.8}}]`); r.status != 200 ||
		!strings.Contains(string(r.body), `"duplicate":true`) {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	figures("a replay still reports the writer's progress", 12, 10, 2)
}
