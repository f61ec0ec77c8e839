package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestDeleteRun deletes a run with data through the API: it is gone from
// the run, list, history and console endpoints, its id can be used again
// for a fresh run, and another run of the project is untouched.
func TestDeleteRun(t *testing.T) {
	e := newEnv(t, 1<<20)
	e.createRun("p", "keep")
	e.createRun("p", "gone")
	for _, id := range []string{"keep", "gone"} {
		b := `{"entity":"admin","project":"p","run_id":"` + id + `","writer":"w","seq":1,
			"history":[{"step":0,"values":{"loss":1}},{"step":1,"values":{"loss":0.5}}],
			"console":[{"line":"hello"}],"alerts":[{"title":"t"}]}`
		if r := e.do("POST", "/api/v1/ingest", []byte(b)); r.status != http.StatusOK {
			t.Fatalf("ingest %s: %d %s", id, r.status, r.body)
		}
	}
	// files: one content both runs have, one only the deleted run has
	for _, f := range []struct{ run, name, body string }{
		{"keep", "shared.txt", "same bytes"}, {"gone", "shared.txt", "same bytes"}, {"gone", "own.txt", "only mine"},
	} {
		if r := e.do("PUT", "/api/v1/projects/admin/p/runs/"+f.run+"/files/"+f.name, []byte(f.body)); r.status != http.StatusOK {
			t.Fatalf("upload %s/%s: %d %s", f.run, f.name, r.status, r.body)
		}
	}
	blobOf := func(body string) string { d := sha(body); return d[:2] + "/" + d[2:] }
	if got := e.blobFiles("sha256"); !slices.Contains(got, blobOf("only mine")) || !slices.Contains(got, blobOf("same bytes")) {
		t.Fatalf("blobs before: %v", got)
	}
	if r := e.do("DELETE", "/api/v1/projects/admin/p/runs/gone", nil, "Authorization", ""); r.status != http.StatusUnauthorized {
		t.Errorf("delete without a key: %d", r.status)
	}
	if r := e.do("DELETE", "/api/v1/projects/admin/p/runs/gone", nil); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	// the deleted run's own content is gone from the blob store; the shared one stays, and still downloads
	if got := e.blobFiles("sha256"); slices.Contains(got, blobOf("only mine")) || !slices.Contains(got, blobOf("same bytes")) {
		t.Errorf("blobs after: %v", got)
	}
	if r := e.do("GET", "/api/v1/projects/admin/p/runs/keep/files/shared.txt", nil); r.status != http.StatusOK || string(r.body) != "same bytes" {
		t.Errorf("the kept run's file: %d %q", r.status, r.body)
	}
	for _, path := range []string{"", "/history", "/console", "/alerts", "/keys"} {
		if r := e.do("GET", "/api/v1/projects/admin/p/runs/gone"+path, nil); r.status != http.StatusNotFound {
			t.Errorf("GET gone%s after delete: %d %s", path, r.status, r.body)
		}
	}
	if r := e.do("DELETE", "/api/v1/projects/admin/p/runs/gone", nil); r.status != http.StatusNotFound {
		t.Errorf("second delete: %d", r.status)
	}
	list := e.do("GET", "/api/v1/projects/admin/p/runs", nil)
	if !strings.Contains(string(list.body), `"id":"keep"`) || strings.Contains(string(list.body), `"id":"gone"`) {
		t.Errorf("list after delete: %s", list.body)
	}
	late := `{"entity":"admin","project":"p","run_id":"gone","writer":"w","seq":2,"history":[{"step":2,"values":{"loss":0.1}}]}`
	if r := e.do("POST", "/api/v1/ingest", []byte(late)); r.status != http.StatusNotFound {
		t.Errorf("ingest to the deleted run: %d %s", r.status, r.body)
	}
	// the id again: a new, empty run
	e.createRun("p", "gone")
	h := e.do("GET", "/api/v1/projects/admin/p/runs/gone/history?key=loss", nil)
	if h.status != http.StatusOK || strings.Contains(string(h.body), `"values":[1`) {
		t.Errorf("the new run's history: %d %s", h.status, h.body)
	}
	if c := e.do("GET", "/api/v1/projects/admin/p/runs/keep/console", nil); !strings.Contains(string(c.body), "hello") {
		t.Errorf("the kept run's console: %s", c.body)
	}
	if h := e.do("GET", "/api/v1/projects/admin/p/runs/keep/history?key=loss", nil); !strings.Contains(string(h.body), `"steps":[0,1]`) {
		t.Errorf("the kept run's history: %s", h.body)
	}
}
