package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/config"
	"github.com/fluoro-dev/fluoro/internal/server"
)

const adminKey = "fluoro-test0000000000000000000000000000000000key"

// newServer starts a Server on data behind httptest and returns its URL.
func newServer(t *testing.T, data string, key string) string {
	t.Helper()
	url, _, _ := startServer(t, data, key)
	return url
}

// startServer starts a Server on data with preset admin key (none when
// empty) behind httptest; it returns the URL, the server's log and a func
// that stops it (also run at cleanup).
func startServer(t *testing.T, data string, key string) (string, *bytes.Buffer, func()) {
	t.Helper()
	url, _, logs, stop := openServer(t, data, key)
	return url, logs, stop
}

// openServer is startServer that also returns the Server.
func openServer(t *testing.T, data string, key string) (string, *server.Server, *bytes.Buffer, func()) {
	t.Helper()
	cfg := config.Default()
	cfg.Data = data
	cfg.DB = "sqlite://" + filepath.Join(data, "fluoro.db")
	cfg.Blobs = "file://" + filepath.Join(data, "blobs")
	cfg.AdminAPIKey = key
	logs := &bytes.Buffer{}
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	var once sync.Once
	stop := func() {
		once.Do(func() {
			hs.Close()
			if err := srv.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return hs.URL, srv, logs, stop
}

func call(t *testing.T, method, url, key string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var sampleRe = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var labelRe = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func parseMetrics(t *testing.T, text string) []sample {
	t.Helper()
	var out []sample
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleRe.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a Prometheus text line: %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, l := range labelRe.FindAllStringSubmatch(m[2], -1) {
			s.labels[l[1]] = l[2]
		}
		out = append(out, s)
	}
	return out
}

// get returns the value of the one sample called name with at least the
// given labels ("k=v" pairs), and whether there is one.
func get(samples []sample, name string, labels ...string) (float64, bool) {
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

// TestMetrics drives the real server, then reads /metrics and checks that
// request counts (by route and numeric status), latency histograms,
// points ingested and commit latency say what happened.
func TestMetrics(t *testing.T) {
	url := newServer(t, t.TempDir(), adminKey)
	if code, body := call(t, "POST", url+"/api/v1/projects/admin/p/runs", adminKey, `{"id":"r1"}`); code != 201 {
		t.Fatalf("create run: %d %s", code, body)
	}
	// Three batches: 10 rows × 2 metrics, 2 console lines, 1 system sample
	// each (23 points), then a repeat of the last one.
	batch := func(seq int) string {
		var rows []string
		for i := 0; i < 10; i++ {
			rows = append(rows, fmt.Sprintf(`{"step":%d,"values":{"a":%d,"b":0.5}}`, seq*10+i, i))
		}
		return fmt.Sprintf(`{"entity":"admin","project":"p","run_id":"r1","writer":"w","seq":%d,"history":[%s],
			"console":[{"line":"x"},{"line":"y"}],"system":[{"values":{"cpu":1}}]}`, seq, strings.Join(rows, ","))
	}
	for _, seq := range []int{1, 2, 3, 3} {
		if code, body := call(t, "POST", url+"/api/v1/ingest", adminKey, batch(seq)); code != 200 {
			t.Fatalf("ingest %d: %d %s", seq, code, body)
		}
	}
	// A spooled update sent twice: applied, then a duplicate; and a finish.
	for range 2 {
		req, _ := http.NewRequest("PATCH", url+"/api/v1/projects/admin/p/runs/r1", strings.NewReader(`{"notes":"n"}`))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		req.Header.Set("X-Fluoro-Op", "w/20")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("update: %v %v", err, res)
		}
		res.Body.Close()
	}
	if code, body := call(t, "POST", url+"/api/v1/projects/admin/p/runs/r1/finish", adminKey, `{"exit_code":0}`); code != 200 {
		t.Fatalf("finish: %d %s", code, body)
	}
	for range 2 {
		if code, _ := call(t, "GET", url+"/api/v1/projects/admin/p/runs/r1", adminKey, ""); code != 200 {
			t.Fatalf("get run: %d", code)
		}
	}
	if code, _ := call(t, "GET", url+"/api/v1/projects/admin/p/runs/ghost", adminKey, ""); code != 404 {
		t.Fatalf("get ghost: %d", code)
	}
	if code, _ := call(t, "GET", url+"/api/v1/entities", "", ""); code != 401 {
		t.Fatalf("no key: %d", code)
	}
	if code, _ := call(t, "GET", url+"/metrics", "", ""); code != 401 {
		t.Fatalf("metrics without a key: %d", code)
	}
	code, text := call(t, "GET", url+"/metrics", adminKey, "")
	if code != 200 {
		t.Fatalf("metrics: %d %s", code, text)
	}
	ms := parseMetrics(t, text)

	const runRoute = "GET /api/v1/projects/{entity}/{project}/runs/{run}"
	counts := []struct {
		route, code string
		want        float64
	}{
		{"POST /api/v1/projects/{entity}/{project}/runs", "201", 1},
		{"POST /api/v1/ingest", "200", 4},
		{runRoute, "200", 2},
		{runRoute, "404", 1},
		{"GET /api/v1/entities", "401", 1},
	}
	for _, c := range counts {
		if v, ok := get(ms, "fluoro_http_requests_total", "route="+c.route, "code="+c.code); !ok || v != c.want {
			t.Errorf("fluoro_http_requests_total{route=%q,code=%q} = %v (present %v), want %v", c.route, c.code, v, ok, c.want)
		}
	}
	for _, s := range ms {
		if s.name == "fluoro_http_requests_total" && !regexp.MustCompile(`^[1-5][0-9][0-9]$`).MatchString(s.labels["code"]) {
			t.Errorf("code label %q is not a numeric status", s.labels["code"])
		}
	}
	// Latency histograms: one per route, counting every request, with a
	// plausible sum and cumulative buckets that end in the count.
	for route, n := range map[string]float64{"POST /api/v1/ingest": 4, runRoute: 3} {
		count, _ := get(ms, "fluoro_http_request_duration_seconds_count", "route="+route)
		sum, _ := get(ms, "fluoro_http_request_duration_seconds_sum", "route="+route)
		if count != n || sum <= 0 || sum > 60 {
			t.Errorf("%s latency: count %v sum %v; want count %v and 0 < sum < 60s", route, count, sum, n)
		}
		checkBuckets(t, ms, "fluoro_http_request_duration_seconds", count, "route="+route)
	}
	if v, _ := get(ms, "fluoro_ingest_points_total"); v != 3*23 {
		t.Errorf("fluoro_ingest_points_total = %v, want %v", v, 3*23)
	}
	for outcome, want := range map[string]float64{"applied": 3, "duplicate": 1} {
		if v, _ := get(ms, "fluoro_ingest_batches_total", "outcome="+outcome); v != want {
			t.Errorf("fluoro_ingest_batches_total{outcome=%q} = %v, want %v", outcome, v, want)
		}
	}
	for _, c := range []struct {
		event, outcome string
		want           float64
	}{{"run.created", "applied", 1}, {"run.updated", "applied", 1}, {"run.updated", "duplicate", 1}, {"run.finished", "applied", 1}} {
		if v, _ := get(ms, "fluoro_run_ops_total", "event="+c.event, "outcome="+c.outcome); v != c.want {
			t.Errorf("fluoro_run_ops_total{event=%q,outcome=%q} = %v, want %v", c.event, c.outcome, v, c.want)
		}
	}
	// Each batch came alone, so each had its own commit.
	commits, _ := get(ms, "fluoro_ingest_commit_duration_seconds_count")
	commitSum, _ := get(ms, "fluoro_ingest_commit_duration_seconds_sum")
	if commits != 4 || commitSum <= 0 || commitSum > 60 {
		t.Errorf("commit latency: count %v sum %v; want 4 commits taking 0-60s", commits, commitSum)
	}
	checkBuckets(t, ms, "fluoro_ingest_commit_duration_seconds", commits)
	if v, _ := get(ms, "fluoro_ingest_group_batches_sum"); v != 4 {
		t.Errorf("fluoro_ingest_group_batches_sum = %v, want 4", v)
	}
	if v, ok := get(ms, "fluoro_live_subscribers"); !ok || v != 0 {
		t.Errorf("fluoro_live_subscribers = %v (present %v), want 0", v, ok)
	}
	if v, ok := get(ms, "go_goroutines"); !ok || v < 1 {
		t.Errorf("go_goroutines = %v (present %v)", v, ok)
	}
}

// checkBuckets checks a histogram's buckets are cumulative and its +Inf
// bucket holds count.
func checkBuckets(t *testing.T, ms []sample, name string, count float64, labels ...string) {
	t.Helper()
	prev, prevLE := 0.0, math.Inf(-1)
	seen := 0
next:
	for _, s := range ms {
		if s.name != name+"_bucket" {
			continue
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if s.labels[k] != v {
				continue next
			}
		}
		le, err := strconv.ParseFloat(s.labels["le"], 64)
		if err != nil || le <= prevLE || s.value < prev {
			t.Errorf("%s%v: bucket le=%s holds %v after le=%v holding %v", name, labels, s.labels["le"], s.value, prevLE, prev)
		}
		prev, prevLE = s.value, le
		seen++
	}
	if seen < 2 || !math.IsInf(prevLE, 1) || prev != count {
		t.Errorf("%s%v: %d buckets, last le=%v holds %v; want +Inf holding %v", name, labels, seen, prevLE, prev, count)
	}
}

// TestPresetAdminKeyOnLaterStart starts on existing data (created with a
// generated key) with FLUORO_ADMIN_API_KEY set: the preset key is added,
// the first key keeps working, and a key the wandb client would refuse is
// accepted with a warning.
func TestPresetAdminKeyOnLaterStart(t *testing.T) {
	data := t.TempDir()
	url, _, stop := startServer(t, data, "")
	b, err := os.ReadFile(filepath.Join(data, server.AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	first := strings.TrimSpace(string(b))
	if code, _ := call(t, "GET", url+"/api/v1/viewer", adminKey, ""); code != 401 {
		t.Fatalf("preset key before it was set: %d, want 401", code)
	}
	stop()

	url, logs, stop := startServer(t, data, adminKey)
	for _, k := range []string{adminKey, first} {
		if code, body := call(t, "GET", url+"/api/v1/viewer", k, ""); code != 200 || !strings.Contains(body, `"admin"`) {
			t.Errorf("key %s… on the second start: %d %s", k[:11], code, body)
		}
	}
	if strings.Contains(logs.String(), "wandb client will refuse") {
		t.Errorf("warned about a key the wandb client accepts:\n%s", logs)
	}
	stop()

	// 38 characters after the first '-': fine for Fluoro, not for wandb.
	const short = "fluoro-gpucheck000000000000000000000000000000"
	url, logs, _ = startServer(t, data, short)
	for _, k := range []string{short, adminKey, first} {
		if code, _ := call(t, "GET", url+"/api/v1/viewer", k, ""); code != 200 {
			t.Errorf("key %s… on the third start: %d", k[:11], code)
		}
	}
	if !strings.Contains(logs.String(), "wandb client will refuse") || strings.Contains(logs.String(), short) {
		t.Errorf("want a warning about the key that does not show it:\n%s", logs)
	}
}
