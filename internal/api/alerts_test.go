package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluoro-dev/fluoro/internal/config"
)

// TestAlertsStoredSuppressedAndSent ingests alerts through the real server
// with an alert webhook: a repeat within its wait is stored suppressed and
// not sent, a replayed batch sends nothing again, and the list shows all.
func TestAlertsStoredSuppressedAndSent(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer hook.Close()
	e := newEnvTB(t, 1<<20, func(c *config.Config) {
		c.AlertHook = hook.URL + "/services/T/B/secret"
		c.PublicURL = "https://fluoro.example.com"
	})
	e.createRun("p", "r1")
	batch := []byte(`{"entity":"admin","project":"p","run_id":"r1","writer":"w","seq":1,"alerts":[
		{"time":100,"title":"loss is NaN","text":"step 7","level":"ERROR","wait_ms":60000},
		{"time":110,"title":"loss is NaN","text":"step 8","level":"ERROR","wait_ms":60000},
		{"time":111,"title":"slow","level":"warn"},
		{"time":112,"title":"","text":"no title"}]}`)
	r := e.do("POST", "/api/v1/ingest", batch)
	if r.status != http.StatusOK {
		t.Fatalf("ingest: %d %s", r.status, r.body)
	}
	ack := r.json(t)
	if ack["accepted"] != 3.0 || !strings.Contains(string(r.body), `"record":"alerts[3]","error":"title is empty`) {
		t.Errorf("ack = %s", r.body)
	}
	if r := e.do("POST", "/api/v1/ingest", batch); r.status != http.StatusOK || r.json(t)["duplicate"] != true {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a wrongly sent third alert would arrive by now
	mu.Lock()
	if len(got) != 2 {
		t.Fatalf("webhook got %d alerts: %v", len(got), got)
	}
	first := got[0]["text"].(string)
	if !strings.HasPrefix(first, "[ERROR] *loss is NaN* from run <https://fluoro.example.com/admin/p/runs/r1|") {
		t.Errorf("first alert text = %q", first)
	}
	if got[1]["alert"].(map[string]any)["level"] != "WARN" {
		t.Errorf("second alert = %v", got[1])
	}
	mu.Unlock()

	l := e.do("GET", "/api/v1/projects/admin/p/runs/r1/alerts", nil)
	if l.status != http.StatusOK {
		t.Fatalf("list: %d %s", l.status, l.body)
	}
	var list struct {
		Alerts []struct {
			ID         int64   `json:"id"`
			Time       float64 `json:"time"`
			Title      string  `json:"title"`
			Text       string  `json:"text"`
			Level      string  `json:"level"`
			WaitMS     int64   `json:"wait_ms"`
			Suppressed bool    `json:"suppressed"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(l.body, &list); err != nil || len(list.Alerts) != 3 {
		t.Fatalf("list = %s (%v)", l.body, err)
	}
	a := list.Alerts
	if a[0].Title != "slow" || a[0].Level != "WARN" || a[1].Text != "step 8" || !a[1].Suppressed || a[2].Suppressed || a[2].WaitMS != 60000 {
		t.Errorf("alerts, newest first = %+v", a)
	}
	if r := e.do("GET", "/api/v1/projects/admin/p/runs/r1/alerts?limit=0", nil); r.status != http.StatusBadRequest {
		t.Errorf("limit=0: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/projects/admin/p/runs/nope/alerts", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown run: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/projects/admin/p/runs/r1/alerts", nil, "Authorization", ""); r.status != http.StatusUnauthorized {
		t.Errorf("no key: %d", r.status)
	}
	m := e.do("GET", "/metrics", nil)
	for _, want := range []string{`fluoro_alerts_total{outcome="suppressed"} 1`, `fluoro_alerts_total{outcome="delivered"} 2`} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
