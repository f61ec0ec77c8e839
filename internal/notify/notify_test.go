package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluoro-dev/fluoro/internal/store"
)

type outcomes struct {
	mu sync.Mutex
	m  map[string]int
}

func (o *outcomes) observe(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]int{}
	}
	o.m[s]++
}

func (o *outcomes) get(s string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.m[s]
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func alert(title string) Alert {
	return Alert{Alert: store.Alert{Time: 1767225600.5, Title: title, Text: "loss <nan> & worse", Level: store.AlertError, WaitMS: 60000},
		Entity: "team", Project: "llm", RunID: "r1", RunName: "warm-sun"}
}

func TestDeliversSlackCompatibleJSON(t *testing.T) {
	var got []map[string]any
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s with %q", r.Method, r.Header.Get("Content-Type"))
		}
		var m map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("body %s: %v", b, err)
		}
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer srv.Close()
	var o outcomes
	w, err := New(srv.URL+"/hooks/T000/secret", Options{PublicURL: "https://fluoro.example.com/", Observe: o.observe})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(time.Second)
	if !w.Send(alert("loss is NaN")) {
		t.Fatal("Send refused")
	}
	waitFor(t, "delivery", func() bool { return o.get(Delivered) == 1 })
	mu.Lock()
	defer mu.Unlock()
	text, _ := got[0]["text"].(string)
	want := "[ERROR] *loss is NaN* from run <https://fluoro.example.com/team/llm/runs/r1|warm-sun> (team/llm)\nloss &lt;nan&gt; &amp; worse"
	if text != want {
		t.Errorf("text = %q\nwant   %q", text, want)
	}
	a, _ := got[0]["alert"].(map[string]any)
	if a["title"] != "loss is NaN" || a["text"] != "loss <nan> & worse" || a["level"] != "ERROR" || a["time"] != "2026-01-01T00:00:00.5Z" {
		t.Errorf("alert = %v", a)
	}
	run, _ := got[0]["run"].(map[string]any)
	if run["id"] != "r1" || run["url"] != "https://fluoro.example.com/team/llm/runs/r1" {
		t.Errorf("run = %v", run)
	}
}

func TestRetriesTransientFailuresOnly(t *testing.T) {
	var calls atomic.Int32
	status := map[string][]int{"flaky": {503, 429, 200}, "refused": {400}, "down": {500, 500, 500, 500, 500}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		title := m["alert"].(map[string]any)["title"].(string)
		seq := status[title]
		w.WriteHeader(seq[0])
		status[title] = seq[1:]
	}))
	defer srv.Close()
	var o outcomes
	w, err := New(srv.URL, Options{Backoff: time.Millisecond, Attempts: 3, Observe: o.observe})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(time.Second)
	for _, title := range []string{"flaky", "refused", "down"} {
		w.Send(alert(title))
	}
	waitFor(t, "every outcome", func() bool { return o.get(Delivered)+o.get(Failed) == 3 })
	if o.get(Delivered) != 1 || o.get(Failed) != 2 {
		t.Errorf("outcomes = %v", o.m)
	}
	if n := calls.Load(); n != 3+1+3 { // flaky: 3 tries; refused: 1 (4xx is final); down: Attempts
		t.Errorf("requests = %d", n)
	}
}

func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	var o outcomes
	w, err := New(srv.URL, Options{Queue: 2, Observe: o.observe})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(10 * time.Millisecond)
	start := time.Now()
	sent := 0
	for i := 0; i < 10; i++ {
		if w.Send(alert("x")) {
			sent++
		}
	}
	if time.Since(start) > time.Second {
		t.Errorf("Send blocked for %v", time.Since(start))
	}
	// one in flight, two queued; the rest dropped
	if sent > 3 || o.get(Dropped) != 10-sent {
		t.Errorf("sent %d, dropped %d", sent, o.get(Dropped))
	}
}

func TestBadURLsAndSecretsStayOutOfErrors(t *testing.T) {
	for _, u := range []string{"", "ftp://x/y", "hooks.slack.com/services/T/B/secret", "http://"} {
		if _, err := New(u, Options{}); err == nil {
			t.Errorf("New(%q) accepted", u)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("error leaks the URL's path: %v", err)
		}
	}
	var o outcomes
	w, err := New("http://127.0.0.1:1/services/T/B/secret", Options{Attempts: 1, Observe: o.observe})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := w.post(t.Context(), alert("x"))
	if err == nil || !retry || strings.Contains(err.Error(), "secret") {
		t.Errorf("post to a closed port: retry %v, err %v", retry, err)
	}
	w.Close(time.Second)
	if w.Send(alert("after close")) {
		t.Error("Send after Close was accepted")
	}
}

func TestPayloadWithoutPublicURL(t *testing.T) {
	a := alert("t")
	a.RunName = ""
	a.Text = ""
	p := Payload(a, "")
	if p["text"] != "[ERROR] *t* from run r1 (team/llm)" {
		t.Errorf("text = %q", p["text"])
	}
}
