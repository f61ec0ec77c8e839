// Command stress checks the two size limits issue 5 promises, against the
// real binary over HTTP: one series of 10M points (ingest, chart, export, all
// points accounted for) and 1M distinct keys in one project (ingest, key
// listings, a chart of a few of them). It prints timings and fails loudly on
// any error or any count that does not add up.
//
//	go run ./bench/stress --points 10000000 --keys 1000000
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/fluoro-dev/fluoro/bench/benchserver"
)

func main() {
	bin := flag.String("fluoro", "bin/fluoro", "path to the fluoro binary")
	points := flag.Int("points", 10_000_000, "points in the one long series")
	keys := flag.Int("keys", 1_000_000, "distinct keys in the wide project")
	flag.Parse()
	if err := run(*bin, *points, *keys); err != nil {
		fmt.Fprintln(os.Stderr, "bench stress:", err)
		os.Exit(1)
	}
}

func run(bin string, points, keys int) error {
	data, err := os.MkdirTemp("", "fluoro-bench-stress")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	s, err := benchserver.Start(bin, data, 4)
	if err != nil {
		return err
	}
	defer s.Stop()
	fmt.Println("| check | figure |")
	fmt.Println("|---|---|")
	if err := longSeries(s, points); err != nil {
		return fmt.Errorf("long series: %w", err)
	}
	if err := wideProject(s, keys); err != nil {
		return fmt.Errorf("wide project: %w", err)
	}
	rss, peak := s.Memory()
	fmt.Printf("| server RSS after both / peak | %d MB / %d MB |\n", rss>>20, peak>>20)
	return nil
}

// value is the long series' value at a step: exact in float64 and cheap to check.
func value(step int) float64 { return float64(step%1000) / 8 }

// post sends bodies from gen with a few concurrent writers.
func post(s *benchserver.Server, n int, gen func(i int) []byte) error {
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	next := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, err := s.Call("POST", "/api/v1/ingest", gen(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
loop:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case err = <-errs:
			break loop
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

func longSeries(s *benchserver.Server, points int) error {
	if _, err := s.Call("POST", "/api/v1/projects/admin/stress/runs", []byte(`{"id":"long"}`)); err != nil {
		return err
	}
	const rows = 20_000
	batches := (points + rows - 1) / rows
	t0 := time.Now()
	err := post(s, batches, func(b int) []byte {
		var sb strings.Builder
		fmt.Fprintf(&sb, `{"entity":"admin","project":"stress","run_id":"long","writer":"stress","seq":%d,"history":[`, b)
		for r := 0; r < rows && b*rows+r < points; r++ {
			step := b*rows + r
			if r > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"step":%d,"time":%.3f,"values":{"loss":%g}}`, step, 1.7e9+float64(step)*0.01, value(step))
		}
		sb.WriteString("]}")
		return []byte(sb.String())
	})
	if err != nil {
		return err
	}
	took := time.Since(t0)
	fmt.Printf("| ingest %d points, one series (4 writers × %d-row batches) | %.1f s, %.0f points/s |\n",
		points, rows, took.Seconds(), float64(points)/took.Seconds())

	// The key listing counts every point.
	var kl struct {
		Keys []struct {
			Key     string `json:"key"`
			Points  int64  `json:"points"`
			MaxStep int64  `json:"max_step"`
		} `json:"keys"`
	}
	if err := getJSON(s, "/api/v1/projects/admin/stress/runs/long/keys", &kl); err != nil {
		return err
	}
	if len(kl.Keys) != 1 || kl.Keys[0].Points != int64(points) || kl.Keys[0].MaxStep != int64(points-1) {
		return fmt.Errorf("keys = %+v, want one key with %d points", kl.Keys, points)
	}

	// A full-range chart: 1,200 points, and the extremes are there.
	for _, phase := range []string{"cold", "warm"} {
		t0 = time.Now()
		var hs struct {
			Series []struct {
				Steps  []int64 `json:"steps"`
				Values []any   `json:"values"`
			} `json:"series"`
		}
		if err := getJSON(s, "/api/v1/projects/admin/stress/history?runs=long&keys=loss&points=1200", &hs); err != nil {
			return err
		}
		d := time.Since(t0)
		if len(hs.Series) != 1 || len(hs.Series[0].Steps) == 0 || len(hs.Series[0].Steps) > 1200 {
			return fmt.Errorf("chart returned %d series", len(hs.Series))
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range hs.Series[0].Values {
			if f, ok := v.(float64); ok {
				lo, hi = math.Min(lo, f), math.Max(hi, f)
			}
		}
		if lo != 0 || hi != value(999) {
			return fmt.Errorf("chart min/max = %g/%g, want 0/%g", lo, hi, value(999))
		}
		fmt.Printf("| chart, full range, 1,200 points (%s) | %d ms |\n", phase, d.Milliseconds())
	}

	// Export every point as binary columns and check each one.
	t0 = time.Now()
	n, err := exportCheck(s, points)
	if err != nil {
		return err
	}
	took = time.Since(t0)
	fmt.Printf("| binary export, every point checked | %d points in %.2f s, %.1fM points/s |\n", n, took.Seconds(),
		float64(n)/took.Seconds()/1e6)
	return nil
}

func exportCheck(s *benchserver.Server, points int) (int, error) {
	req, err := http.NewRequest("GET", s.URL+"/api/v1/projects/admin/stress/runs/long/history?format=binary&keys=loss", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+benchserver.Key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return 0, fmt.Errorf("export: %d %s", res.StatusCode, b)
	}
	r := bufio.NewReaderSize(res.Body, 1<<20)
	total := 0
	var buf []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return total, fmt.Errorf("export cut short after %d points: %w", total, err)
		}
		n := int(binary.LittleEndian.Uint32(hdr[:]))
		if n == 0 {
			break
		}
		if cap(buf) < 24*n {
			buf = make([]byte, 24*n)
		}
		buf = buf[:24*n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return total, err
		}
		for i := 0; i < n; i++ {
			step := int(int64(binary.LittleEndian.Uint64(buf[8*i:])))
			v := math.Float64frombits(binary.LittleEndian.Uint64(buf[16*n+8*i:]))
			if step != total+i || v != value(step) {
				return total, fmt.Errorf("export point %d: step %d value %g, want step %d value %g", total+i, step, v, total+i, value(total+i))
			}
		}
		total += n
	}
	if total != points {
		return total, fmt.Errorf("export returned %d points, want %d", total, points)
	}
	return total, nil
}

func wideProject(s *benchserver.Server, keys int) error {
	// The API takes at most 10,000 keys in a row: spread the keys over runs
	// of 100k keys, 10 rows of 10k keys each.
	const perRow = 10_000
	const perRun = 100_000
	runs := (keys + perRun - 1) / perRun
	for r := 0; r < runs; r++ {
		if _, err := s.Call("POST", "/api/v1/projects/admin/wide/runs", []byte(fmt.Sprintf(`{"id":"wide%04d"}`, r))); err != nil {
			return err
		}
	}
	rowsTotal := (keys + perRow - 1) / perRow
	t0 := time.Now()
	err := post(s, rowsTotal, func(i int) []byte {
		run := i * perRow / perRun
		var sb strings.Builder
		fmt.Fprintf(&sb, `{"entity":"admin","project":"wide","run_id":"wide%04d","writer":"stress","seq":%d,"history":[{"step":%d,"values":{`,
			run, i, i%(perRun/perRow))
		for k := i * perRow; k < (i+1)*perRow && k < keys; k++ {
			if k > i*perRow {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `"layer_%07d/grad_norm":%d`, k, k)
		}
		sb.WriteString("}}]}")
		return []byte(sb.String())
	})
	if err != nil {
		return err
	}
	fmt.Printf("| ingest %d distinct keys (%d runs, rows of %d keys) | %.1f s |\n", keys, runs, perRow, time.Since(t0).Seconds())

	// Twice: the first listing after ingest, then the same listing again
	// (a workspace reopened), which a store may serve from memory.
	for _, phase := range []string{"first", "again"} {
		var pk struct {
			Keys []string `json:"keys"`
		}
		served, decoded, err := timedJSON(s, "/api/v1/projects/admin/wide/keys", &pk)
		if err != nil {
			return err
		}
		if len(pk.Keys) != keys {
			return fmt.Errorf("project keys: %d, want %d", len(pk.Keys), keys)
		}
		fmt.Printf("| project key listing, %d keys (%s): response / + client JSON decode | %d ms / %d ms |\n",
			keys, phase, served.Milliseconds(), decoded.Milliseconds())
	}

	var rk struct {
		Keys []json.RawMessage `json:"keys"`
	}
	served, decoded, err := timedJSON(s, "/api/v1/projects/admin/wide/runs/wide0000/keys", &rk)
	if err != nil {
		return err
	}
	if want := min(perRun, keys); len(rk.Keys) != want {
		return fmt.Errorf("run keys: %d, want %d", len(rk.Keys), want)
	}
	fmt.Printf("| one run's key listing, %d keys: response / + client JSON decode | %d ms / %d ms |\n", len(rk.Keys), served.Milliseconds(), decoded.Milliseconds())

	last := keys - 1
	t0 = time.Now()
	var hs struct {
		Series []struct {
			Values []float64 `json:"values"`
		} `json:"series"`
	}
	q := fmt.Sprintf("/api/v1/projects/admin/wide/history?runs=wide%04d&keys=layer_%07d/grad_norm&points=100", last/perRun, last)
	if err := getJSON(s, q, &hs); err != nil {
		return err
	}
	if len(hs.Series) != 1 || len(hs.Series[0].Values) != 1 || hs.Series[0].Values[0] != float64(last) {
		return fmt.Errorf("chart of the last key: %+v", hs.Series)
	}
	fmt.Printf("| chart of one of %d keys | %d ms |\n", keys, time.Since(t0).Milliseconds())
	return nil
}

// timedJSON gets path and decodes it into v, and reports how long the
// response took to arrive whole and how long it took with the client's
// decoding (Go's encoding/json; a browser's JSON.parse is faster).
func timedJSON(s *benchserver.Server, path string, v any) (served, decoded time.Duration, err error) {
	t0 := time.Now()
	b, err := s.Call("GET", path, nil)
	if err != nil {
		return 0, 0, err
	}
	served = time.Since(t0)
	if err := json.Unmarshal(b, v); err != nil {
		return 0, 0, errors.Join(fmt.Errorf("GET %s: bad JSON", path), err)
	}
	return served, time.Since(t0), nil
}

func getJSON(s *benchserver.Server, path string, v any) error {
	b, err := s.Call("GET", path, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errors.Join(fmt.Errorf("GET %s: bad JSON", path), err)
	}
	return nil
}
