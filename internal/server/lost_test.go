package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestLostRunAndBack: a run silent for longer than lost-after is lost (a
// run.updated event says so), a finished one is not, and the run's next
// batch makes it running again, with another event.
func TestLostRunAndBack(t *testing.T) {
	url, srv, logs, _ := openServer(t, t.TempDir(), adminKey)
	do := func(method, path, body string) (int, string) { return call(t, method, url+path, adminKey, body) }
	for _, id := range []string{"r1", "r2"} {
		if code, body := do("POST", "/api/v1/projects/admin/p/runs", `{"id":"`+id+`"}`); code != http.StatusCreated {
			t.Fatalf("create: %d %s", code, body)
		}
	}
	if code, body := do("POST", "/api/v1/projects/admin/p/runs/r2/finish", `{}`); code != http.StatusOK {
		t.Fatalf("finish: %d %s", code, body)
	}
	state := func(id string) string {
		_, body := do("GET", "/api/v1/projects/admin/p/runs/"+id, "")
		var r struct{ State string }
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatal(err)
		}
		return r.State
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/v1/events?project=admin/p", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	events := bufio.NewReader(res.Body)
	next := func() (typ, data string) {
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				t.Fatalf("read event: %v", err)
			}
			line = strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			case line == "" && typ != "":
				return typ, data
			}
		}
	}

	// Not silent long enough yet.
	if n, err := srv.MarkLost(ctx, time.Now(), 5*time.Minute); err != nil || n != 0 {
		t.Fatalf("MarkLost now = %d, %v", n, err)
	}
	if n, err := srv.MarkLost(ctx, time.Now().Add(6*time.Minute), 5*time.Minute); err != nil || n != 1 {
		t.Fatalf("MarkLost 6 minutes on = %d, %v; want r1", n, err)
	}
	if s1, s2 := state("r1"), state("r2"); s1 != "lost" || s2 != "finished" {
		t.Errorf("states %s, %s; want lost, finished", s1, s2)
	}
	if typ, data := next(); typ != "run.updated" || !strings.Contains(data, `"id":"r1"`) || !strings.Contains(data, `"state":"lost"`) {
		t.Errorf("event %s %s", typ, data)
	}
	if !strings.Contains(logs.String(), "run lost") {
		t.Errorf("no log line for the lost run:\n%s", logs.String())
	}
	// The process comes back: an empty batch (the SDK's heartbeat) is enough.
	if code, body := do("POST", "/api/v1/ingest", `{"entity":"admin","project":"p","run_id":"r1","writer":"w","seq":1}`); code != http.StatusOK {
		t.Fatalf("heartbeat: %d %s", code, body)
	}
	if s := state("r1"); s != "running" {
		t.Errorf("after a heartbeat: %s", s)
	}
	if typ, data := next(); typ != "run.updated" || !strings.Contains(data, `"state":"running"`) {
		t.Errorf("event %s %s", typ, data)
	}
}
