package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	b64 "encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fluoro-dev/fluoro/internal/config"
	"github.com/fluoro-dev/fluoro/internal/server"
)

var update = flag.Bool("update", false, "rewrite golden files")

const adminKey = "fluoro-test0000000000000000000000000000000000key"

type env struct {
	t    testing.TB
	url  string
	data string
}

func newEnv(t *testing.T, maxBody int64) *env { return newEnvTB(t, maxBody) }

func newEnvTB(t testing.TB, maxBody int64, opts ...func(*config.Config)) *env {
	t.Helper()
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.DB = "sqlite://" + filepath.Join(cfg.Data, "fluoro.db")
	cfg.Blobs = "file://" + filepath.Join(cfg.Data, "blobs")
	cfg.AdminAPIKey = adminKey
	cfg.MaxBody = maxBody
	for _, o := range opts {
		o(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(context.Background(), cfg, log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		srv.Close()
	})
	return &env{t: t, url: hs.URL, data: cfg.Data}
}

type resp struct {
	status int
	body   []byte
	header http.Header
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, r.body)
	}
	return m
}

func (e *env) do(method, path string, body []byte, hdr ...string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, b, res.Header}
}

func (e *env) createRun(project, id string) map[string]any {
	e.t.Helper()
	r := e.do("POST", "/api/v1/projects/admin/"+project+"/runs", []byte(fmt.Sprintf(`{"id":%q,"config":{"lr":0.1}}`, id)))
	if r.status != http.StatusCreated {
		e.t.Fatalf("create run: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

func batchJSON(run string, seq int, history string) []byte {
	return []byte(fmt.Sprintf(`{"entity":"admin","project":"p","run_id":%q,"writer":"w","seq":%d,"history":%s}`, run, seq, history))
}

func TestAuth(t *testing.T) {
	e := newEnv(t, 1<<20)
	basic := "Basic " + b64.StdEncoding.EncodeToString([]byte("api:"+adminKey))
	cases := []struct {
		name, auth string
		want       int
	}{
		{"no key", "", 401},
		{"wrong key", "Bearer fluoro-0000000000000000000000000000000000000000", 401},
		{"malformed key", "Bearer short", 401},
		{"bearer", "Bearer " + adminKey, 200},
		{"basic as wandb sends", basic, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("GET", "/api/v1/viewer", nil, "Authorization", c.auth)
			if r.status != c.want {
				t.Fatalf("status %d, want %d: %s", r.status, c.want, r.body)
			}
			if c.want == 401 {
				m := r.json(t)["error"].(map[string]any)
				if m["code"] != "unauthorized" || m["message"] == "" {
					t.Errorf("error body = %v", m)
				}
			}
		})
	}
	// Every API route but the public ones refuses an anonymous caller.
	for _, p := range []string{"/api/v1/entities", "/api/v1/projects/admin/p/runs", "/api/v1/projects/admin/p/run-keys", "/api/v1/projects/admin/p/run-groups?by=state", "/api/v1/events", "/metrics"} {
		if r := e.do("GET", p, nil, "Authorization", ""); r.status != 401 {
			t.Errorf("GET %s without a key = %d", p, r.status)
		}
	}
	if r := e.do("POST", "/api/v1/ingest", batchJSON("x", 1, "[]"), "Authorization", ""); r.status != 401 {
		t.Errorf("ingest without a key = %d", r.status)
	}
	for _, p := range []string{"/healthz", "/readyz", "/api/v1/openapi.json"} {
		if r := e.do("GET", p, nil, "Authorization", ""); r.status != 200 {
			t.Errorf("GET %s = %d, want public 200", p, r.status)
		}
	}
}

func TestRunLifecycle(t *testing.T) {
	e := newEnv(t, 1<<20)
	run := e.createRun("p", "run1")
	if run["name"] == "" || run["state"] != "running" || run["resumed"] != false || run["user"] != "admin" {
		t.Errorf("created run = %v", run)
	}
	gen := e.do("POST", "/api/v1/projects/admin/p/runs", []byte(`{}`)).json(t)
	if id, _ := gen["id"].(string); len(id) != 8 {
		t.Errorf("generated id = %v", gen["id"])
	}
	steps := []struct {
		name, method, path, body string
		want                     int
		contains                 string
	}{
		{"resume never on existing", "POST", "/api/v1/projects/admin/p/runs", `{"id":"run1","resume":"never"}`, 409, "conflict"},
		{"resume must on missing", "POST", "/api/v1/projects/admin/p/runs", `{"id":"nope","resume":"must"}`, 404, "not_found"},
		{"resume must without id", "POST", "/api/v1/projects/admin/p/runs", `{"resume":"must"}`, 400, "needs the id"},
		{"bad resume mode", "POST", "/api/v1/projects/admin/p/runs", `{"resume":"sometimes"}`, 400, "allow, must or never"},
		{"bad run id", "POST", "/api/v1/projects/admin/p/runs", `{"id":"../x"}`, 400, "run id"},
		{"bad project name", "POST", "/api/v1/projects/admin/..%2f/runs", `{}`, 400, "project name"},
		{"unknown entity", "POST", "/api/v1/projects/ghost/p/runs", `{}`, 404, "entity"},
		{"unknown field", "POST", "/api/v1/projects/admin/p/runs", `{"idd":"x"}`, 400, "unknown field"},
		{"resume allow", "POST", "/api/v1/projects/admin/p/runs", `{"id":"run1","resume":"allow","tags":["t1"]}`, 200, `"resumed":true`},
		{"config change refused", "PATCH", "/api/v1/projects/admin/p/runs/run1", `{"config":{"lr":0.2}}`, 409, "allow_val_change"},
		{"config change allowed", "PATCH", "/api/v1/projects/admin/p/runs/run1", `{"config":{"lr":0.2},"allow_val_change":true,"notes":"n"}`, 200, `"lr":0.2`},
		{"summary update", "PATCH", "/api/v1/projects/admin/p/runs/run1", `{"summary":{"best":0.9}}`, 200, `"best":0.9`},
		{"empty name", "PATCH", "/api/v1/projects/admin/p/runs/run1", `{"name":""}`, 400, "name"},
		{"update missing run", "PATCH", "/api/v1/projects/admin/p/runs/nope", `{}`, 404, "not_found"},
		{"finish bad state", "POST", "/api/v1/projects/admin/p/runs/run1/finish", `{"state":"running"}`, 400, "state"},
		{"finish", "POST", "/api/v1/projects/admin/p/runs/run1/finish", `{"exit_code":1}`, 200, `"state":"failed"`},
		{"get", "GET", "/api/v1/projects/admin/p/runs/run1", ``, 200, `"exit_code":1`},
		{"list filtered", "GET", "/api/v1/projects/admin/p/runs?filter=" + url.QueryEscape(`config.lr > 0.15 and tags has "t1"`), ``, 200, `"total":1`},
		{"list sql-ish filter", "GET", "/api/v1/projects/admin/p/runs?filter=" + url.QueryEscape(`name = "x'; DROP TABLE runs; --"`), ``, 200, `"total":0`},
		{"list bad filter", "GET", "/api/v1/projects/admin/p/runs?filter=" + url.QueryEscape(`config.lr >`), ``, 400, "expected a value"},
		{"list bad sort", "GET", "/api/v1/projects/admin/p/runs?sort=bogus", ``, 400, "unknown field"},
		{"list bad limit", "GET", "/api/v1/projects/admin/p/runs?limit=0", ``, 400, "limit"},
		{"list still intact", "GET", "/api/v1/projects/admin/p/runs", ``, 200, `"total":2`},
		{"projects", "GET", "/api/v1/entities/admin/projects", ``, 200, `"run_count":2`},
		{"project", "GET", "/api/v1/projects/admin/p", ``, 200, `"name":"p"`},
		{"missing project", "GET", "/api/v1/projects/admin/zzz", ``, 404, "not_found"},
		{"unknown route", "GET", "/api/v1/nothing", ``, 404, "openapi.json"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := e.do(s.method, s.path, []byte(s.body))
			if r.status != s.want || !strings.Contains(string(r.body), s.contains) {
				t.Fatalf("%s %s = %d %s; want %d containing %q", s.method, s.path, r.status, r.body, s.want, s.contains)
			}
		})
	}
}

func TestIngestAcceptsValidOddData(t *testing.T) {
	e := newEnv(t, 4<<20)
	e.createRun("p", "r1")
	body := batchJSON("r1", 1, `[
		{"step":0,"values":{"train/loss":NaN,"grad norm.l1":Infinity,"ünï/cødé κ":-Infinity,"a.b c/d":1}},
		{"step":1,"values":{"train/loss":0.5}},
		{"step":2,"values":{"train/loss":0.4,"bad":{"_type":"x"},"":3}}]`)
	r := e.do("POST", "/api/v1/ingest", body)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	ack := r.json(t)
	// The row with an empty key is rejected alone; the rest is kept.
	if ack["accepted"] != 2.0 || len(ack["rejected"].([]any)) != 1 {
		t.Fatalf("ack = %v", ack)
	}
	h := e.do("GET", "/api/v1/projects/admin/p/runs/r1/history?keys="+url.QueryEscape("train/loss,grad norm.l1")+"&key="+url.QueryEscape("ünï/cødé κ"), nil).json(t)
	got := map[string]any{}
	for _, s := range h["series"].([]any) {
		m := s.(map[string]any)
		got[m["key"].(string)] = m["values"]
	}
	want := map[string]any{
		"train/loss":   []any{"NaN", 0.5},
		"grad norm.l1": []any{"Infinity"},
		"ünï/cødé κ":   []any{"-Infinity"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	// An empty batch is a heartbeat.
	if r := e.do("POST", "/api/v1/ingest", batchJSON("r1", 2, `[]`)); r.status != 200 || !strings.Contains(string(r.body), `"accepted":0`) {
		t.Errorf("empty batch = %d %s", r.status, r.body)
	}
}

func TestHistoryDownsampledKeepsSpikes(t *testing.T) {
	e := newEnv(t, 8<<20)
	e.createRun("p", "r1")
	var rows []string
	for i := 0; i < 5000; i++ {
		v := float64(i%10) / 10
		if i == 3333 {
			v = 1e6
		}
		rows = append(rows, fmt.Sprintf(`{"step":%d,"values":{"loss":%g}}`, i, v))
	}
	if r := e.do("POST", "/api/v1/ingest", batchJSON("r1", 1, "["+strings.Join(rows, ",")+"]")); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	h := e.do("GET", "/api/v1/projects/admin/p/history?runs=r1&keys=loss&points=200", nil).json(t)
	s := h["series"].([]any)[0].(map[string]any)
	vals := s["values"].([]any)
	if s["sampled"] != true || s["total"] != 5000.0 || len(vals) > 200 {
		t.Fatalf("sampled %v total %v len %d", s["sampled"], s["total"], len(vals))
	}
	found := false
	for _, v := range vals {
		if v == 1e6 {
			found = true
		}
	}
	if !found {
		t.Error("the spike was sampled away")
	}
	z := e.do("GET", "/api/v1/projects/admin/p/runs/r1/history?keys=loss&min_step=100&max_step=199", nil).json(t)
	if n := len(z["series"].([]any)[0].(map[string]any)["steps"].([]any)); n != 100 {
		t.Errorf("zoomed range returned %d points, want all 100", n)
	}
	nd := e.do("GET", "/api/v1/projects/admin/p/runs/r1/history?format=ndjson&keys=loss", nil)
	if lines := bytes.Count(nd.body, []byte("\n")); lines != 5000 {
		t.Errorf("ndjson export has %d lines", lines)
	}
	for _, bad := range []string{"runs=r1", "keys=loss", "runs=r1&keys=loss&points=2", "runs=ghost&keys=loss", "runs=r1&keys=loss&min_step=5&max_step=1"} {
		if r := e.do("GET", "/api/v1/projects/admin/p/history?"+bad, nil); r.status/100 != 4 {
			t.Errorf("history?%s = %d", bad, r.status)
		}
	}
	keys := e.do("GET", "/api/v1/projects/admin/p/runs/r1/keys", nil)
	if !strings.Contains(string(keys.body), `{"key":"loss","points":5000,"min_step":0,"max_step":4999,"type":"number"}`) {
		t.Errorf("keys = %s", keys.body)
	}
}

// TestRunFields lists the config paths and summary keys of a project's
// runs, from run creation, a config update and ingest, but not another
// project's.
func TestRunFields(t *testing.T) {
	e := newEnv(t, 1<<20)
	e.createRun("p", "r1")
	e.createRun("other", "o1")
	if r := e.do("POST", "/api/v1/projects/admin/p/runs", []byte(`{"id":"r2","config":{"opt":{"name":"adam","b.c":[1,2]},"img":{"_type":"image-file"}}}`)); r.status != http.StatusCreated {
		t.Fatalf("create r2: %d %s", r.status, r.body)
	}
	if r := e.do("PATCH", "/api/v1/projects/admin/p/runs/r1", []byte(`{"config":{"sched":{"kind":"cos"}},"summary":{"acc":0.9}}`)); r.status != 200 {
		t.Fatalf("update r1: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/ingest", []byte(`{"entity":"admin","project":"p","run_id":"r2","writer":"w","seq":1,"summary":{"val/loss":0.5,"gone":null}}`)); r.status != 200 {
		t.Fatalf("ingest: %d %s", r.status, r.body)
	}
	r := e.do("GET", "/api/v1/projects/admin/p/run-keys", nil)
	want := `{"config":["img","lr","opt.b.c","opt.name","sched.kind"],"summary":["acc","val/loss"],"truncated":false}` + "\n"
	if r.status != 200 || string(r.body) != want {
		t.Errorf("run-keys = %d %s, want %s", r.status, r.body, want)
	}
	if r := e.do("GET", "/api/v1/projects/admin/nope/run-keys", nil); r.status != 404 {
		t.Errorf("run-keys of a missing project = %d %s", r.status, r.body)
	}
}

func TestFiles(t *testing.T) {
	e := newEnv(t, 1<<20)
	e.createRun("p", "r1")
	up := e.do("PUT", "/api/v1/projects/admin/p/runs/r1/files/ckpt/model.txt", []byte("weights"))
	if up.status != 200 {
		t.Fatalf("upload %d %s", up.status, up.body)
	}
	f := up.json(t)
	sum := sha256.Sum256([]byte("weights"))
	if f["sha256"] != hex.EncodeToString(sum[:]) || f["size"] != 7.0 || f["name"] != "ckpt/model.txt" {
		t.Errorf("file = %v", f)
	}
	list := e.do("GET", "/api/v1/projects/admin/p/runs/r1/files", nil).json(t)
	link := list["files"].([]any)[0].(map[string]any)["url"].(string)
	dl := e.do("GET", link, nil, "Authorization", "")
	if dl.status != 200 || string(dl.body) != "weights" {
		t.Fatalf("signed download = %d %q", dl.status, dl.body)
	}
	tampered := strings.Replace(link, "name=ckpt", "name=xckpt", 1)
	if r := e.do("GET", tampered, nil, "Authorization", ""); r.status != 403 {
		t.Errorf("tampered link = %d", r.status)
	}
	for _, name := range []string{"..%2F..%2Fetc%2Fpasswd", "a%2F..%2F..%2Fb", "%2Fabs", "back%5Cslash", "nul%00byte", "dir%2F%2Fx"} {
		r := e.do("PUT", "/api/v1/projects/admin/p/runs/r1/files/"+name, []byte("evil"))
		if r.status != 400 {
			t.Errorf("PUT files/%s = %d %s, want 400", name, r.status, r.body)
		}
	}
	// Nothing escaped the blob directory.
	err := filepath.Walk(e.data, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.Contains(p, "passwd") {
			t.Errorf("traversal wrote %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConsoleAndSystem(t *testing.T) {
	e := newEnv(t, 1<<20)
	e.createRun("p", "r1")
	body := []byte(`{"entity":"admin","project":"p","run_id":"r1","writer":"w","seq":1,
		"console":[{"time":1,"line":"epoch 1"},{"time":2,"stream":"stderr","line":"warning"}],
		"system":[{"time":1,"values":{"cpu":12.5,"gpu.0.util":99}}]}`)
	if r := e.do("POST", "/api/v1/ingest", body); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	c := e.do("GET", "/api/v1/projects/admin/p/runs/r1/console?after=0", nil)
	if !strings.Contains(string(c.body), `"line":"epoch 1"`) || !strings.Contains(string(c.body), `"stream":"stderr"`) {
		t.Errorf("console = %s", c.body)
	}
	next := e.do("GET", "/api/v1/projects/admin/p/runs/r1/console?after=2", nil)
	if !strings.Contains(string(next.body), `"lines":[]`) {
		t.Errorf("console after the last line = %s", next.body)
	}
	txt := e.do("GET", "/api/v1/projects/admin/p/runs/r1/console?format=text", nil)
	if string(txt.body) != "epoch 1\n[stderr] warning\n" || !strings.HasPrefix(txt.header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(txt.header.Get("Content-Disposition"), `filename=r1-console.txt`) {
		t.Errorf("console as text = %q %v", txt.body, txt.header)
	}
	if r := e.do("GET", "/api/v1/projects/admin/p/runs/r1/console?format=xml", nil); r.status != http.StatusBadRequest {
		t.Errorf("format=xml: %d", r.status)
	}
	s := e.do("GET", "/api/v1/projects/admin/p/runs/r1/system", nil)
	if !strings.Contains(string(s.body), `"gpu.0.util":99`) {
		t.Errorf("system = %s", s.body)
	}
}

func TestEventsResume(t *testing.T) {
	e := newEnv(t, 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	open := func(lastID string) (*bufio.Reader, func()) {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/v1/events?project=admin/p", nil)
		req.Header.Set("Authorization", "Bearer "+adminKey)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("events = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		return bufio.NewReader(res.Body), func() { res.Body.Close() }
	}
	next := func(br *bufio.Reader) (id, typ string) {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read event: %v", err)
			}
			line = strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "event: "):
				typ = line[7:]
			case line == "" && typ != "":
				return id, typ
			}
		}
	}
	br, closeFn := open("")
	e.createRun("p", "r1")
	id1, typ := next(br)
	if typ != "run.created" {
		t.Fatalf("first event %q", typ)
	}
	closeFn()
	// Missed while disconnected: a history batch and a finish.
	e.do("POST", "/api/v1/ingest", batchJSON("r1", 1, `[{"step":0,"values":{"x":1}}]`))
	e.do("POST", "/api/v1/projects/admin/p/runs/r1/finish", []byte(`{}`))
	br2, close2 := open(id1)
	defer close2()
	_, t1 := next(br2)
	_, t2 := next(br2)
	if t1 != "history" || t2 != "run.finished" {
		t.Errorf("resumed events = %s, %s", t1, t2)
	}
}

func TestOpenAPIGolden(t *testing.T) {
	e := newEnv(t, 1<<20)
	r := e.do("GET", "/api/v1/openapi.json", nil)
	if r.status != 200 {
		t.Fatal(r.status)
	}
	golden := filepath.Join("testdata", "openapi.golden.json")
	if *update {
		if err := os.WriteFile(golden, r.body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/api -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(r.body)); diff != "" {
		t.Errorf("OpenAPI changed; review and run go test ./internal/api -update (-golden +got):\n%s", diff)
	}
}

func TestBinaryExport(t *testing.T) {
	e := newEnv(t, 8<<20)
	e.createRun("p", "r1")
	var rows []string
	for i := 0; i < 9000; i++ {
		rows = append(rows, fmt.Sprintf(`{"step":%d,"time":%d.5,"values":{"loss":%d.25}}`, i, 1700000000+i, i))
	}
	if r := e.do("POST", "/api/v1/ingest", batchJSON("r1", 1, "["+strings.Join(rows, ",")+"]")); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// A late correction and a non-numeric value (left out of the binary form).
	e.do("POST", "/api/v1/ingest", batchJSON("r1", 2, `[{"step":10,"values":{"loss":-1}},{"step":9000,"values":{"loss":"text"}}]`))
	res := e.do("GET", "/api/v1/projects/admin/p/runs/r1/history?format=binary&keys=loss&min_step=5", nil)
	if res.status != 200 || res.header.Get("Content-Type") != "application/vnd.fluoro.series" {
		t.Fatalf("%d %s", res.status, res.header.Get("Content-Type"))
	}
	b := res.body
	var steps []int64
	var vals []float64
	for {
		if len(b) < 4 {
			t.Fatal("stream ends without the empty frame")
		}
		n := int(binary.LittleEndian.Uint32(b))
		b = b[4:]
		if n == 0 {
			break
		}
		for i := 0; i < n; i++ {
			steps = append(steps, int64(binary.LittleEndian.Uint64(b[8*i:])))
			if tm := math.Float64frombits(binary.LittleEndian.Uint64(b[8*n+8*i:])); steps[len(steps)-1] != 10 && tm != float64(1700000000+steps[len(steps)-1])+0.5 {
				t.Fatalf("time at step %d = %v", steps[len(steps)-1], tm)
			}
			vals = append(vals, math.Float64frombits(binary.LittleEndian.Uint64(b[16*n+8*i:])))
		}
		b = b[24*n:]
	}
	if len(steps) != 8995 || steps[0] != 5 || steps[len(steps)-1] != 8999 || vals[5] != -1 || vals[6] != 11.25 {
		t.Errorf("binary export: %d points, first step %d, last %d, vals[5..6] %v %v", len(steps), steps[0], steps[len(steps)-1], vals[5], vals[6])
	}
	for _, bad := range []string{"format=binary&keys=a,b", "format=xml&keys=loss"} {
		if r := e.do("GET", "/api/v1/projects/admin/p/runs/r1/history?"+bad, nil); r.status != 400 {
			t.Errorf("%s = %d", bad, r.status)
		}
	}
}
