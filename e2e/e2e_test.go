// Package e2e tests the real fluoro binary as a user runs it: built from
// source, started on a free loopback port with a temporary data directory,
// driven over HTTP, and killed the hard way.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const adminKey = "fluoro-e2e00000000000000000000000000000000000key"

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fluoro-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "fluoro")
	build := exec.Command("go", "build", "-o", binary, "github.com/fluoro-dev/fluoro/cmd/fluoro")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build fluoro:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
	done chan error
}

var listenRe = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

func start(t *testing.T, data string) *server {
	t.Helper()
	cmd := exec.Command(binary, "server", "--addr", "127.0.0.1:0", "--data", data)
	cmd.Env = append(os.Environ(), "FLUORO_ADMIN_API_KEY="+adminKey)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, logs: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case s.url = <-urlc:
	case err := <-s.done:
		t.Fatalf("server exited before listening: %v\n%s", err, s.logs)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("server did not start in 20s\n%s", s.logs)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

func (s *server) kill9() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
	<-s.done
}

var client = &http.Client{Timeout: 60 * time.Second}

func (s *server) call(method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

func (s *server) mustCall(method, path string, body []byte, want int) []byte {
	s.t.Helper()
	code, b, err := s.call(method, path, body)
	if err != nil || code != want {
		s.t.Fatalf("%s %s = %d %v %s; want %d", method, path, code, err, b, want)
	}
	return b
}

const (
	steps     = 10000
	metrics   = 20
	batchRows = 250
	writers   = 4
)

func value(step, metric int) float64 {
	// Distinct and exactly representable, with a sprinkle of non-finite.
	if step%997 == 0 && metric == 3 {
		return math.NaN()
	}
	return float64(step)*0.5 + float64(metric)/64
}

// batchBody builds batch number b (rows [b*batchRows, (b+1)*batchRows)) of
// run kill9.
func batchBody(writer string, seq, b int) []byte {
	return runBatchBody("kill9", writer, seq, b, batchRows)
}

// runBatchBody builds batch number b of run, rows [b*rows, (b+1)*rows).
func runBatchBody(run, writer string, seq, b, rows int) []byte {
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"entity":"admin","project":"e2e","run_id":%q,"writer":%q,"seq":%d,"history":[`, run, writer, seq)
	for r := 0; r < rows; r++ {
		step := b*rows + r
		if r > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"step":%d,"time":%d,"values":{`, step, 1_700_000_000+step)
		for m := 0; m < metrics; m++ {
			if m > 0 {
				sb.WriteByte(',')
			}
			v := value(step, m)
			if math.IsNaN(v) {
				fmt.Fprintf(&sb, `"m%02d":NaN`, m)
			} else {
				fmt.Fprintf(&sb, `"m%02d":%v`, m, v)
			}
		}
		sb.WriteString("}}")
	}
	sb.WriteString("]}")
	return []byte(sb.String())
}

type series struct {
	Key    string `json:"key"`
	Steps  []int64
	Values []any
}

// stored returns, per metric, step → value as the server has it for run kill9.
func stored(t *testing.T, s *server) map[string]map[int64]any {
	t.Helper()
	return storedRun(t, s, "kill9")
}

// storedRun returns, per metric, step → value as the server has it for run.
func storedRun(t *testing.T, s *server, run string) map[string]map[int64]any {
	t.Helper()
	body := s.mustCall("GET", "/api/v1/projects/admin/e2e/runs/"+run+"/history", nil, 200)
	var out struct{ Series []series }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]map[int64]any{}
	for _, se := range out.Series {
		pts := map[int64]any{}
		for i, st := range se.Steps {
			if _, dup := pts[st]; dup {
				t.Fatalf("%s: step %d stored twice", se.Key, st)
			}
			pts[st] = se.Values[i]
		}
		m[se.Key] = pts
	}
	return m
}

func checkBatch(t *testing.T, got map[string]map[int64]any, b int) (present, absent int) {
	t.Helper()
	return checkRows(t, got, b, batchRows)
}

// checkRows counts the points of batch b (of rows rows) that are stored and
// those that are not, and fails on a stored point with a wrong value.
func checkRows(t *testing.T, got map[string]map[int64]any, b, rows int) (present, absent int) {
	t.Helper()
	for r := 0; r < rows; r++ {
		step := int64(b*rows + r)
		for m := 0; m < metrics; m++ {
			key := fmt.Sprintf("m%02d", m)
			v, ok := got[key][step]
			if !ok {
				absent++
				continue
			}
			present++
			want := value(int(step), m)
			if math.IsNaN(want) {
				if v != "NaN" {
					t.Fatalf("%s@%d = %v, want NaN", key, step, v)
				}
			} else if v != want {
				t.Fatalf("%s@%d = %v, want %v", key, step, v, want)
			}
		}
	}
	return present, absent
}

// TestKill9LosesNothingAcknowledged writes 10k steps × 20 metrics from four
// concurrent writers, SIGKILLs the server right after an acknowledgement
// while other batches are in flight, restarts it on the same data and checks
// that every acknowledged point is there, that no batch is half-applied, and
// that resending everything (as a client retry would) completes the run with
// no duplicates.
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	data := t.TempDir()
	s := start(t, data)
	s.mustCall("POST", "/api/v1/projects/admin/e2e/runs", []byte(`{"id":"kill9"}`), 201)

	total := steps / batchRows
	var mu sync.Mutex
	acked := map[int]bool{}
	killAfter := total / 2
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := w; b < total; b += writers {
				code, _, err := s.call("POST", "/api/v1/ingest", batchBody(fmt.Sprintf("w%d", w), b, b))
				if err != nil || code != 200 {
					return // the server is gone
				}
				mu.Lock()
				acked[b] = true
				n := len(acked)
				mu.Unlock()
				if n >= killAfter {
					once.Do(func() {
						s.kill9()
						close(killed)
					})
					return
				}
			}
		}(w)
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatal("all batches finished before the kill; the test proved nothing")
	}
	mu.Lock()
	ackedNow := len(acked)
	mu.Unlock()
	t.Logf("killed after %d acknowledged batches of %d", ackedNow, total)

	s2 := start(t, data)
	got := stored(t, s2)
	partial := 0
	for b := 0; b < total; b++ {
		present, absent := checkBatch(t, got, b)
		if acked[b] && absent > 0 {
			t.Errorf("acknowledged batch %d lost %d of %d points", b, absent, present+absent)
		}
		if present > 0 && absent > 0 {
			partial++
		}
	}
	if partial > 0 {
		t.Errorf("%d batches were half-applied", partial)
	}

	// A client retrying everything (same writer and seq) completes the run.
	for b := 0; b < total; b++ {
		s2.mustCall("POST", "/api/v1/ingest", batchBody(fmt.Sprintf("w%d", b%writers), b, b), 200)
	}
	got = stored(t, s2)
	for b := 0; b < total; b++ {
		if _, absent := checkBatch(t, got, b); absent > 0 {
			t.Fatalf("after resend batch %d is missing %d points", b, absent)
		}
	}
	var run struct {
		Points   int64 `json:"points"`
		LastStep int64 `json:"last_step"`
	}
	if err := json.Unmarshal(s2.mustCall("GET", "/api/v1/projects/admin/e2e/runs/kill9", nil, 200), &run); err != nil {
		t.Fatal(err)
	}
	if run.Points != steps*metrics || run.LastStep != steps-1 {
		t.Errorf("run has %d points, last step %d; want %d, %d", run.Points, run.LastStep, steps*metrics, steps-1)
	}
}

// TestFirstStart checks the admin bootstrap a new user sees.
func TestFirstStart(t *testing.T) {
	data := t.TempDir()
	cmd := exec.Command(binary, "server", "--addr", "127.0.0.1:0", "--data", data)
	cmd.Env = os.Environ()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	var login string
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Log in: ") {
			login = strings.TrimPrefix(sc.Text(), "Log in: ")
			break
		}
	}
	key, err := os.ReadFile(filepath.Join(data, "admin-api-key"))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(data, "admin-api-key"))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	k := strings.TrimSpace(string(key))
	if !regexp.MustCompile(`^fluoro-[0-9a-f]{40}$`).MatchString(k) || !strings.HasSuffix(login, "/?token="+k) {
		t.Errorf("key %q, login link %q", k, login)
	}
	for _, f := range []string{"fluoro.db", "fluoro.db-wal"} {
		db, err := os.ReadFile(filepath.Join(data, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(db, []byte(k)) {
			t.Errorf("%s holds the API key in clear", f)
		}
	}
}

// TestKill9DuringCompaction kills the server at random moments while the
// background compactor is moving history from the write log into chunks,
// several times over, and checks after each restart that every acknowledged
// point is there exactly once.
func TestKill9DuringCompaction(t *testing.T) {
	data := t.TempDir()
	s := start(t, data)
	s.mustCall("POST", "/api/v1/projects/admin/e2e/runs", []byte(`{"id":"kill9"}`), 201)
	acked := map[int]bool{}
	total := steps / batchRows
	b := 0
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for cycle := 0; cycle < 5 && b < total; cycle++ {
		// Enough batches for the compactor to have work, then a kill at a
		// random moment within its 1 s cycle.
		for i := 0; i < 6 && b < total; i, b = i+1, b+1 {
			s.mustCall("POST", "/api/v1/ingest", batchBody("w", b, b), 200)
			acked[b] = true
		}
		time.Sleep(time.Duration(rng.Intn(1200)) * time.Millisecond)
		s.kill9()
		s = start(t, data)
		got := stored(t, s)
		for a := range acked {
			if _, absent := checkBatch(t, got, a); absent > 0 {
				t.Fatalf("cycle %d: acknowledged batch %d lost %d points", cycle, a, absent)
			}
		}
	}
	// Let the compactor finish, then check the counts are exact.
	time.Sleep(2500 * time.Millisecond)
	var run struct {
		Points int64 `json:"points"`
	}
	if err := json.Unmarshal(s.mustCall("GET", "/api/v1/projects/admin/e2e/runs/kill9", nil, 200), &run); err != nil {
		t.Fatal(err)
	}
	if want := int64(len(acked) * batchRows * metrics); run.Points != want {
		t.Errorf("run reports %d points, want %d", run.Points, want)
	}
}

// TestGoSyncOfPythonSpool logs an offline run with the real Python SDK and a
// run whose process is SIGKILLed mid-way, then uploads both with the Go
// `fluoro sync`, twice, and checks every point arrived exactly once and the
// killed run is marked crashed.
func TestGoSyncOfPythonSpool(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	sdk, _ := filepath.Abs("../sdk/python/src")
	data := t.TempDir()
	s := start(t, data)
	work := t.TempDir()
	script := `
import os, sys, fluoro
class Media:  # the _fluoro_encode contract of fluoro's media classes
    def _fluoro_encode(self, key, step):
        name = "media/%s_%d.bin" % (key, step)
        return {"_type": "fake-file", "path": name, "size": 3}, [(name, b"abc")]
run = fluoro.init(project="gosync", entity="admin", id=sys.argv[1], mode="offline", dir=sys.argv[2], config={"lr": 0.1})
with open(os.path.join(sys.argv[2], sys.argv[1] + ".txt"), "w") as f:
    f.write("notes of " + sys.argv[1])
run.save(os.path.join(sys.argv[2], sys.argv[1] + ".txt"), base_path=sys.argv[2], policy="now")
for step in range(3000):
    if step == 5:
        fluoro.log({"sample": Media()}, commit=False)
    fluoro.log({"train/loss": 1.0 / (step + 1), "nan": float("nan") if step == 7 else step})
    if sys.argv[3] == "kill" and step == 2000:
        run.flush(30)
        os.kill(os.getpid(), 9)
fluoro.finish()
`
	for _, c := range []struct{ id, mode string }{{"offline1", "finish"}, {"killed1", "kill"}} {
		cmd := exec.Command(py, "-c", script, c.id, work, c.mode)
		cmd.Env = append(os.Environ(), "PYTHONPATH="+sdk, "FLUORO_BASE_URL=", "FLUORO_API_KEY=")
		out, err := cmd.CombinedOutput()
		if c.mode == "finish" && err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
	}
	for i := 0; i < 2; i++ {
		cmd := exec.Command(binary, "sync", "--url", s.url, "--key", adminKey, filepath.Join(work, "fluoro"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fluoro sync #%d: %v\n%s", i+1, err, out)
		}
		if i == 1 && !strings.Contains(string(out), "0 of 0 pending") {
			t.Errorf("second sync sent something:\n%s", out)
		}
	}
	for _, c := range []struct {
		id    string
		steps int
		state string
		mode  string
	}{{"offline1", 3000, "finished", "finish"}, {"killed1", 2001, "crashed", "kill"}} {
		var run struct {
			State  string `json:"state"`
			Points int64  `json:"points"`
		}
		time.Sleep(1500 * time.Millisecond) // let the compactor settle counts
		if err := json.Unmarshal(s.mustCall("GET", "/api/v1/projects/admin/gosync/runs/"+c.id, nil, 200), &run); err != nil {
			t.Fatal(err)
		}
		if run.State != c.state || run.Points < int64(2*c.steps) {
			t.Errorf("%s: state %q points %d; want %q and at least %d", c.id, run.State, run.Points, c.state, 2*c.steps)
		}
		// The run files the SDK saved offline: the media file, the save()d file, the environment.
		var files struct {
			Files []struct {
				Name string `json:"name"`
				Size int64  `json:"size"`
			} `json:"files"`
		}
		if err := json.Unmarshal(s.mustCall("GET", "/api/v1/projects/admin/gosync/runs/"+c.id+"/files", nil, 200), &files); err != nil {
			t.Fatal(err)
		}
		names := map[string]int64{}
		for _, f := range files.Files {
			names[f.Name] = f.Size
		}
		if names["media/sample_5.bin"] != 3 || names[c.id+".txt"] != int64(len("notes of "+c.id)) {
			t.Errorf("%s: run files %v; want media/sample_5.bin and %s.txt", c.id, names, c.id)
		}
		if _, ok := names["fluoro-metadata.json"]; !ok && c.mode == "finish" {
			t.Errorf("%s: no fluoro-metadata.json in %v", c.id, names)
		}
		var h struct {
			Series []struct {
				Key    string `json:"key"`
				Steps  []int64
				Values []any
			}
		}
		if err := json.Unmarshal(s.mustCall("GET", "/api/v1/projects/admin/gosync/runs/"+c.id+"/history?keys=train/loss,nan", nil, 200), &h); err != nil {
			t.Fatal(err)
		}
		for _, se := range h.Series {
			if len(se.Steps) < c.steps {
				t.Errorf("%s %s: %d points, want %d", c.id, se.Key, len(se.Steps), c.steps)
			}
			for i := 1; i < len(se.Steps); i++ {
				if se.Steps[i] <= se.Steps[i-1] {
					t.Fatalf("%s %s: duplicate or unordered step %d", c.id, se.Key, se.Steps[i])
				}
			}
			if se.Key == "nan" && len(se.Values) > 7 && se.Values[7] != "NaN" {
				t.Errorf("%s: step 7 = %v, want NaN", c.id, se.Values[7])
			}
		}
	}
}
