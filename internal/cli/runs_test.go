package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluoro-dev/fluoro/internal/api"
	"github.com/fluoro-dev/fluoro/internal/config"
	"github.com/fluoro-dev/fluoro/internal/server"
	"github.com/google/go-cmp/cmp"
)

const testKey = "fluoro-test0000000000000000000000000000000000key"

// startRunsServer starts a real server with three runs in admin/p and
// returns an environment that points the CLI at it (and at an empty
// config dir, so no login file of the machine's is read):
//
//	r1 alpha  finished  lr 0.001  adam  val/loss 0.25  10 points, steps 0-9, none pending
//	r2 beta   running   lr 0.01   sgd   val/loss 0.5    3 points, 4 pending
//	r3 gamma  failed    lr 0.1          no summary, no history
func startRunsServer(t *testing.T) map[string]string {
	t.Helper()
	data := t.TempDir()
	cfg := config.Default()
	cfg.Data = data
	cfg.DB = "sqlite://" + filepath.Join(data, "fluoro.db")
	cfg.Blobs = "file://" + filepath.Join(data, "blobs")
	cfg.AdminAPIKey = testKey
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	post := func(path, body string, header ...string) {
		t.Helper()
		req, _ := http.NewRequest("POST", hs.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %d %s", path, res.StatusCode, b)
		}
	}
	runs := "/api/v1/projects/admin/p/runs"
	post(runs, `{"id":"r1","name":"alpha","config":{"lr":0.001,"optimizer":{"name":"adam"}},"tags":["best"],"host":"gpu-1","program":"train.py"}`)
	post("/api/v1/ingest", `{"entity":"admin","project":"p","run_id":"r1","writer":"w","seq":1,"logged":10,
		"history":[`+historyRows(10)+`],"summary":{"val/loss":0.25,"acc":0.9}}`)
	post(runs+"/r1/finish", `{"exit_code":0}`)
	post(runs, `{"id":"r2","name":"beta","config":{"lr":0.01,"optimizer":{"name":"sgd"}}}`)
	// r2's writer had spooled 4 more points than this batch holds
	post("/api/v1/ingest", `{"entity":"admin","project":"p","run_id":"r2","writer":"w","seq":1,"logged":3,
		"history":[`+historyRows(3)+`],"summary":{"val/loss":0.5}}`, "X-Fluoro-Spooled", "7")
	post(runs, `{"id":"r3","name":"gamma","config":{"lr":0.1}}`)
	post(runs+"/r3/finish", `{"exit_code":1}`)
	return map[string]string{"FLUORO_BASE_URL": hs.URL, "FLUORO_API_KEY": testKey, "FLUORO_CONFIG_DIR": t.TempDir()}
}

func historyRows(n int) string {
	rows := make([]string, n)
	for i := range rows {
		rows[i] = `{"step":` + strconv.Itoa(i) + `,"values":{"loss":1.5}}`
	}
	return strings.Join(rows, ",")
}

// runCLIIn is runCLI with stdin.
func runCLIIn(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), Env{Args: args, Getenv: func(k string) string { return env[k] },
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

// table splits tabwriter output into cells (columns are 2+ spaces apart).
func table(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		rows = append(rows, regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1))
	}
	return rows
}

func runIDs(t *testing.T, jsonOut string) []string {
	t.Helper()
	var runs []struct{ ID string }
	if err := json.Unmarshal([]byte(jsonOut), &runs); err != nil {
		t.Fatalf("not a JSON array of runs: %v\n%s", err, jsonOut)
	}
	ids := []string{}
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestRunsListTable(t *testing.T) {
	env := startRunsServer(t)
	// Flags before and after the project.
	code, out, errs := runCLI(t, env, "runs", "list", "--sort", "config.lr", "admin/p", "--columns", "summary.val/loss,config.optimizer.name,tags")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	rows := table(out)
	want := [][]string{
		{"ID", "NAME", "STATE", "STEP", "POINTS", "PENDING", "CREATED", "SUMMARY.VAL/LOSS", "CONFIG.OPTIMIZER.NAME", "TAGS"},
		{"r1", "alpha", "finished", "9", "10", "0", "just now", "0.25", "adam", "best"},
		{"r2", "beta", "running", "2", "3", "4", "just now", "0.5", "sgd", "-"},
		{"r3", "gamma", "failed", "-", "0", "-", "just now", "-", "-", "-"}, // no writer reported
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("table (-want +got):\n%s\n%s", diff, out)
	}
	if errs != "" {
		t.Errorf("stderr %q for an untruncated list", errs)
	}
}

func TestRunsListJSONFilterSortLimit(t *testing.T) {
	env := startRunsServer(t)
	cases := []struct {
		args    []string
		ids     []string
		wantErr string
	}{
		{[]string{"--sort", "created_at"}, []string{"r1", "r2", "r3"}, ""},
		{[]string{"--filter", "config.lr >= 0.01", "--sort", "id"}, []string{"r2", "r3"}, ""},
		{[]string{"--filter", `config.optimizer.name = "adam"`}, []string{"r1"}, ""},
		{[]string{"--sort", "-summary.val/loss"}, []string{"r2", "r1", "r3"}, ""},
		{[]string{"--sort", "created_at", "--limit", "2"}, []string{"r1", "r2"}, "2 of 3 runs\n"},
		{[]string{"--filter", `state = "crashed"`}, []string{}, ""},
	}
	for _, c := range cases {
		args := append([]string{"runs", "list", "admin/p", "--json"}, c.args...)
		code, out, errs := runCLI(t, env, args...)
		if code != 0 {
			t.Errorf("%v: exit %d: %s", c.args, code, errs)
			continue
		}
		if diff := cmp.Diff(c.ids, runIDs(t, out)); diff != "" {
			t.Errorf("%v: ids (-want +got):\n%s", c.args, diff)
		}
		if errs != c.wantErr {
			t.Errorf("%v: stderr %q, want %q", c.args, errs, c.wantErr)
		}
	}

	// --json keeps the API's objects whole.
	_, out, _ := runCLI(t, env, "runs", "list", "admin/p", "--json", "--filter", `name = "alpha"`)
	var runs []map[string]any
	if err := json.Unmarshal([]byte(out), &runs); err != nil || len(runs) != 1 {
		t.Fatalf("%v: %s", err, out)
	}
	if runs[0]["host"] != "gpu-1" || runs[0]["summary"].(map[string]any)["val/loss"] != 0.25 || runs[0]["last_step"] != 9.0 {
		t.Errorf("run object: %v", runs[0])
	}

	code, out, errs := runCLI(t, env, "runs", "list", "admin/p", "--filter", `state = "crashed"`)
	if code != 0 || out != "" || errs != "no runs in admin/p match the filter\n" {
		t.Errorf("empty table = %d %q %q", code, out, errs)
	}
}

// TestRunsListPages: a limit over the page size takes several requests,
// and 0 takes every run.
func TestRunsListPages(t *testing.T) {
	env := startRunsServer(t)
	c := &client{base: env["FLUORO_BASE_URL"], key: testKey, page: 2, http: http.DefaultClient}
	for limit, want := range map[int][]string{0: {"r1", "r2", "r3"}, 3: {"r1", "r2", "r3"}, 2: {"r1", "r2"}, 1: {"r1"}} {
		runs, total, err := c.listRuns(context.Background(), []string{"admin", "p"}, "", "created_at", limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
		if total != 3 || !cmp.Equal(ids, want) {
			t.Errorf("limit %d: %v of %d, want %v of 3", limit, ids, total, want)
		}
	}
}

func TestRunsShow(t *testing.T) {
	env := startRunsServer(t)
	code, out, errs := runCLI(t, env, "runs", "show", "admin/p/r1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		`(?m)^name +alpha$`, `(?m)^id +admin/p/r1$`, `(?m)^state +finished$`, `(?m)^user +admin$`,
		`(?m)^host +gpu-1$`, `(?m)^program +train\.py$`, `(?m)^group +-$`, `(?m)^tags +best$`,
		`(?m)^created +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(just now\)$`, `(?m)^finished +\d{4}-`,
		`(?m)^exit code +0$`, `(?m)^last step +9$`, `(?m)^Points\n  stored +10\n  logged +10\n  received +10\n  pending +0$`,
		`(?m)^Config\n  lr = 0\.001\n  optimizer\.name = adam\n\nSummary\n  acc = 0\.9\n  val/loss = 0\.25\n\z`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("show lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "never reached the server") {
		t.Errorf("hint without pending points:\n%s", out)
	}

	// r2 is running: its 4 pending points may be on their way, so no hint
	if _, out, _ = runCLI(t, env, "runs", "show", "admin/p/r2"); !regexp.MustCompile(`(?m)^  pending +4$`).MatchString(out) ||
		strings.Contains(out, "never reached") {
		t.Errorf("show r2:\n%s", out)
	}

	code, out, errs = runCLI(t, env, "runs", "show", "--json", "admin/p/r3")
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
		t.Fatalf("exit %d, %v: %s%s", code, err, out, errs)
	}
	if r["id"] != "r3" || r["state"] != "failed" || r["exit_code"] != 1.0 || r["last_step"] != -1.0 {
		t.Errorf("show --json: %v", r)
	}
}

// TestRunsShowPoints: what the writers reported, and the hint for a run
// that ended with points that never arrived.
func TestRunsShowPoints(t *testing.T) {
	p := func(n int64) *int64 { return &n }
	r := runInfo{RunJSON: api.RunJSON{Entity: "admin", Project: "p", ID: "r9", Name: "n", State: "crashed", Host: "gpu-7", LastStep: 99,
		Points: 100, PointsLogged: p(150), PointsReceived: p(100), PointsPending: p(50)}}
	var b bytes.Buffer
	if err := printRun(&b, r, time.Now()); err != nil {
		t.Fatal(err)
	}
	want := "\nPoints\n  stored    100\n  logged    150\n  received  100\n  pending   50\n" +
		"  50 points were spooled by the client but never reached the server. On host gpu-7, run\n" +
		"  `fluoro sync .` in the directory the run started in (or in FLUORO_DIR): it finds fluoro/run-…-r9/\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("got:\n%s\nwant it to contain:\n%s", b.String(), want)
	}
	r.State = "running" // the points may still be on their way
	b.Reset()
	_ = printRun(&b, r, time.Now())
	if strings.Contains(b.String(), "never reached") {
		t.Errorf("hint for a running run:\n%s", b.String())
	}
}

func TestRunsDelete(t *testing.T) {
	env := startRunsServer(t)
	exists := func(id string) bool {
		code, _, _ := runCLI(t, env, "runs", "show", "admin/p/"+id)
		return code == 0
	}

	code, out, errs := runCLI(t, env, "runs", "delete", "admin/p/r3", "--yes")
	if code != 0 || out != "deleted admin/p/r3\n" || exists("r3") {
		t.Errorf("delete --yes = %d %q %q", code, out, errs)
	}

	code, out, errs = runCLIIn(t, env, "n\n", "runs", "delete", "admin/p/r2")
	if code != 0 || out != "" || !exists("r2") ||
		errs != `Delete run admin/p/r2 ("beta", running, 3 points) and everything logged to it? [y/N] kept admin/p/r2`+"\n" {
		t.Errorf("answered n = %d %q %q", code, out, errs)
	}
	code, out, errs = runCLIIn(t, env, "", "runs", "delete", "admin/p/r2")
	if code != 0 || !exists("r2") || !strings.Contains(errs, "kept admin/p/r2") {
		t.Errorf("no answer = %d %q %q", code, out, errs)
	}
	code, out, errs = runCLIIn(t, env, "y\n", "runs", "delete", "admin/p/r2")
	if code != 0 || out != "deleted admin/p/r2\n" || exists("r2") || !strings.Contains(errs, "[y/N]") {
		t.Errorf("answered y = %d %q %q", code, out, errs)
	}

	code, out, errs = runCLI(t, env, "runs", "delete", "admin/p/r1")
	if code != 2 || !strings.Contains(errs, "pass --yes") || !exists("r1") {
		t.Errorf("no stdin = %d %q %q", code, out, errs)
	}

	code, _, errs = runCLI(t, env, "runs", "delete", "--yes", "admin/p/nope")
	if code != 1 || errs != "fluoro: run admin/p/nope not found (HTTP 404)\n" {
		t.Errorf("unknown run = %d %q", code, errs)
	}

	// Several: each is reported; one failure makes the exit status 1.
	code, out, errs = runCLI(t, env, "runs", "delete", "--yes", "admin/p/nope", "admin/p/r1")
	if code != 1 || out != "deleted admin/p/r1\n" || exists("r1") ||
		!strings.Contains(errs, "1 of 2 runs not deleted:\n  admin/p/nope: run admin/p/nope not found (HTTP 404)") {
		t.Errorf("several = %d %q %q", code, out, errs)
	}
}

func TestRunsErrors(t *testing.T) {
	env := startRunsServer(t)
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range env {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"bad key", with("FLUORO_API_KEY", "fluoro-wrong"), []string{"runs", "list", "admin/p"}, 1,
			"refused the API key from FLUORO_API_KEY: unauthenticated"},
		{"bad --key", env, []string{"runs", "show", "admin/p/r1", "--key", "fluoro-wrong"}, 1,
			"refused the API key from --key"},
		{"no url", with("FLUORO_BASE_URL", ""), []string{"runs", "list", "admin/p"}, 1, "no server URL: pass --url or set FLUORO_BASE_URL"},
		{"no key", with("FLUORO_API_KEY", ""), []string{"runs", "list", "admin/p"}, 1, "no API key for http://127.0.0.1:"},
		{"not a url", env, []string{"runs", "list", "admin/p", "--url", "localhost:8080"}, 1, `server URL "localhost:8080": want http://`},
		{"unreachable", env, []string{"runs", "list", "admin/p", "--url", closed.URL}, 1,
			"cannot reach the server at " + closed.URL + " (from --url): "},
		{"bad filter", env, []string{"runs", "list", "admin/p", "--filter", "config.lr >"}, 1, "(HTTP 400)"},
		{"no project", env, []string{"runs", "list", "admin/nope"}, 1, "fluoro: project admin/nope not found (HTTP 404)"},
		{"escaped", env, []string{"runs", "show", "admin/p/r1?x=1"}, 1, "run admin/p/r1?x=1 not found (HTTP 404)"},
		{"show a/b", env, []string{"runs", "show", "a/b"}, 2, `fluoro runs: show: "a/b" is not ENTITY/PROJECT/RUN`},
		{"show none", env, []string{"runs", "show"}, 2, "show wants one ENTITY/PROJECT/RUN"},
		{"list a/b/c", env, []string{"runs", "list", "a/b/c"}, 2, `"a/b/c" is not ENTITY/PROJECT`},
		{"list two", env, []string{"runs", "list", "a/b", "c/d"}, 2, "list wants one ENTITY/PROJECT, got 2"},
		{"list limit", env, []string{"runs", "list", "a/b", "--limit", "-1"}, 2, "--limit -1"},
		{"list bad flag", env, []string{"runs", "list", "a/b", "--nope"}, 2, "flag provided but not defined: -nope"},
		{"delete a//c", env, []string{"runs", "delete", "--yes", "a//c"}, 2, `"a//c" is not ENTITY/PROJECT/RUN`},
		{"delete none", env, []string{"runs", "delete", "--yes"}, 2, "usage: fluoro runs"},
		{"runs", env, []string{"runs"}, 2, "usage: fluoro runs list"},
		{"unknown", env, []string{"runs", "frob"}, 2, `unknown subcommand "frob"`},
	}
	for _, c := range cases {
		code, out, errs := runCLI(t, c.env, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%s: fluoro %v = exit %d, stderr %q; want %d containing %q", c.name, c.args, code, errs, c.code, c.want)
		}
		if out != "" {
			t.Errorf("%s: stdout %q", c.name, out)
		}
		if strings.Contains(errs, testKey) {
			t.Errorf("%s: printed the key", c.name)
		}
	}

	code, out, _ := runCLI(t, nil, "runs", "-h")
	if code != 0 || out != runsUsage {
		t.Errorf("runs -h = %d %q", code, out)
	}
}

// TestRunsLoginFile: the URL and key fluoro.login() wrote are used when
// neither flags nor the environment give them.
func TestRunsLoginFile(t *testing.T) {
	env := startRunsServer(t)
	dir := t.TempDir()
	login := `{"base_url": "` + env["FLUORO_BASE_URL"] + `", "hosts": {"` + env["FLUORO_BASE_URL"] + `": {"api_key": "` + testKey + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "login.json"), []byte(login), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, map[string]string{"FLUORO_CONFIG_DIR": dir}, "runs", "list", "admin/p", "--json", "--sort", "id")
	if code != 0 || !cmp.Equal(runIDs(t, out), []string{"r1", "r2", "r3"}) {
		t.Errorf("login file = %d %q %q", code, out, errs)
	}
}

func TestCell(t *testing.T) {
	for _, c := range []struct {
		json, want string
	}{
		{`0.123456`, "0.1235"}, {`100000`, "100000"}, {`3.0`, "3"}, {`1e-7`, "1e-07"}, {`"adam"`, "adam"},
		{`true`, "true"}, {`null`, "null"}, {`["a","b"]`, "a, b"}, {`[]`, "-"},
		{`{"_type":"image-file","path":"media/images/a_very_long_name.png"}`, `{"_type":"image-file","path":"media/ima…`},
	} {
		var v any
		d := json.NewDecoder(strings.NewReader(c.json))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if got := cell(v, true); got != c.want {
			t.Errorf("cell(%s) = %q, want %q", c.json, got, c.want)
		}
	}
	m := map[string]any{"summary": map[string]any{"val/loss": 1, "a.b": 2, "a": map[string]any{"c": 3}}}
	for path, want := range map[string]any{"summary.val/loss": 1, "summary.a.b": 2, "summary.a.c": 3, "summary.x": nil} {
		if got, _ := lookup(m, path); got != want {
			t.Errorf("lookup(%s) = %v, want %v", path, got, want)
		}
	}
}

func TestAge(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for ts, want := range map[string]string{
		"2026-11-27T11:59:30Z": "just now", "2026-11-27T11:15:00Z": "45m ago", "2026-11-27T02:00:00Z": "10h ago",
		"2026-11-24T12:00:00Z": "3d ago", "": "-", "nonsense": "nonsense",
	} {
		if got := age(ts, now); got != want {
			t.Errorf("age(%q) = %q, want %q", ts, got, want)
		}
	}
	if got := age("2026-01-02T12:00:00Z", now); !regexp.MustCompile(`^2026-01-0[23]$`).MatchString(got) {
		t.Errorf("an old run's age = %q, want its date", got)
	}
}
