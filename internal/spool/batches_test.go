package spool_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/spool"
)

// runLines are the records of an online run's spool: its create, n
// batches of one row each (step i, loss i), and its finish.
func runLines(n int) []string {
	lines := []string{`{"op":"create","seq":1,"body":{"id":"r1","resume":"allow"}}`}
	for i := 0; i < n; i++ {
		lines = append(lines, fmt.Sprintf(`{"entity":"admin","project":"p","run_id":"r1","writer":"host/1-ab","seq":%d,"logged":%d,"history":[{"step":%d,"time":1.5,"values":{"loss":%d}}]}`,
			i+2, i+1, i, i))
	}
	return append(lines, fmt.Sprintf(`{"op":"finish","seq":%d,"body":{"exit_code":0}}`, n+2))
}

// TestSyncSendsBatchesTogether: a spool's consecutive batches go several to
// a request; everything arrives, in order, and the spool is acknowledged.
// Against a server without /ingest/batches, one at a time; a run finished
// before the sync is resumed and finished again, as with single requests.
func TestSyncSendsBatchesTogether(t *testing.T) {
	for _, c := range []struct {
		name              string
		oldServer, finish bool
		maxWrites         int64
	}{
		{"batches", false, false, 6},
		{"old server", true, false, 1200},
		{"finished before", false, true, 12},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs, tr := startServer(t)
			url := hs.URL
			if c.oldServer {
				var multi atomic.Int64
				old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/api/v1/ingest/batches" {
						multi.Add(1)
						http.NotFound(w, r)
						return
					}
					proxy(t, hs.URL, w, r)
				}))
				defer old.Close()
				url = old.URL
				defer func() {
					if multi.Load() != 1 {
						t.Errorf("%d requests to /ingest/batches after the first 404", multi.Load())
					}
				}()
			}
			const n = 1100 // more than one request's worth
			dir := writeSpool(t, runLines(n)...)
			if c.finish {
				post(t, hs.URL+"/api/v1/projects/admin/p/runs", `{"id":"r1"}`)
				post(t, hs.URL+"/api/v1/projects/admin/p/runs/r1/finish", `{"exit_code":3}`)
			}
			sp, err := spool.Read(dir)
			if err != nil {
				t.Fatal(err)
			}
			before := tr.writes.Load()
			res, err := (&spool.Syncer{BaseURL: url, Key: key}).Sync(context.Background(), sp)
			if err != nil || res.Sent != n+2 || res.Refused != 0 {
				t.Fatalf("sync = %+v, %v", res, err)
			}
			if w := tr.writes.Load() - before; w > c.maxWrites {
				t.Errorf("%d requests, want at most %d", w, c.maxWrites)
			}
			var run struct {
				State    string `json:"state"`
				LastStep int64  `json:"last_step"`
				Points   int64  `json:"points"`
			}
			get(t, hs.URL+"/api/v1/projects/admin/p/runs/r1", &run)
			if run.State != "finished" || run.LastStep != n-1 || run.Points != n {
				t.Errorf("run after sync: %+v", run)
			}
			again, err := spool.Read(dir)
			if err != nil || len(again.Pending()) != 0 {
				t.Errorf("pending after sync: %d, %v", len(again.Pending()), err)
			}
		})
	}
}

func post(t *testing.T, url, body string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %v %v", url, res, err)
	}
	res.Body.Close()
}

// proxy forwards r to base.
func proxy(t *testing.T, base string, w http.ResponseWriter, r *http.Request) {
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), r.Body)
	req.Header = r.Header.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
}
