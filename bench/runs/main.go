// Command runs measures the runs table (W7 in BENCHMARKS.md) through the
// real binary: N runs with 50 config and 20 summary keys, then the query a
// workspace sends, filtering on two config keys and sorting by a summary
// metric, one page of 50, repeated for p50/p99.
//
// A program, not a timed test: `go run ./bench/runs --runs 10000`.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"net/url"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/fluoro-dev/fluoro/bench/benchserver"
)

func main() {
	bin := flag.String("fluoro", "bin/fluoro", "path to the fluoro binary")
	runs := flag.Int("runs", 10000, "runs to create")
	repeats := flag.Int("repeats", 30, "queries to time")
	flag.Parse()
	if err := run(*bin, *runs, *repeats); err != nil {
		fmt.Fprintln(os.Stderr, "bench runs:", err)
		os.Exit(1)
	}
}

func run(bin string, runs, repeats int) error {
	dir, err := os.MkdirTemp("", "fluoro-bench-runs")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := benchserver.Start(bin, dir, 8)
	if err != nil {
		return err
	}
	defer s.Stop()
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for i := w; i < runs; i += 8 {
				cfg := map[string]any{
					"lr":        []float64{1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3}[rng.Intn(6)],
					"optimizer": []string{"adam", "sgd", "adamw"}[rng.Intn(3)],
				}
				for k := 0; k < 48; k++ {
					cfg[fmt.Sprintf("param_%02d", k)] = rng.Intn(1000)
				}
				body, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("run%05d", i), "config": cfg})
				if _, err := s.Call("POST", "/api/v1/projects/admin/w7/runs", body); err != nil {
					errc <- err
					return
				}
				sum := map[string]any{"val/acc": rng.Float64(), "val/loss": rng.Float64()}
				for k := 0; k < 18; k++ {
					sum[fmt.Sprintf("metric_%02d", k)] = rng.Float64()
				}
				body, _ = json.Marshal(map[string]any{"summary": sum})
				if _, err := s.Call("PATCH", fmt.Sprintf("/api/v1/projects/admin/w7/runs/run%05d", i), body); err != nil {
					errc <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	created := time.Since(start)
	q := url.Values{}
	q.Set("filter", `config.lr >= 0.0001 and config.optimizer = "adam"`)
	q.Set("sort", "-summary.val/acc")
	q.Set("limit", "50")
	path := "/api/v1/projects/admin/w7/runs?" + q.Encode()
	var lat []time.Duration
	var total int64
	for i := 0; i <= repeats; i++ {
		t0 := time.Now()
		b, err := s.Call("GET", path, nil)
		if err != nil {
			return err
		}
		if i > 0 {
			lat = append(lat, time.Since(t0))
		}
		var page struct {
			Total int64 `json:"total"`
		}
		_ = json.Unmarshal(b, &page)
		total = page.Total
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("\n## W7 runs table: %d runs × 50 config + 20 summary keys (created in %.1f s)\n\n", runs, created.Seconds())
	fmt.Printf("| query | matches | p50 ms | p99 ms |\n|---|---|---|---|\n")
	fmt.Printf("| 2 config filters, sort by summary, page 50 | %d | %.1f | %.1f |\n", total,
		float64(lat[len(lat)/2].Microseconds())/1000, float64(lat[len(lat)*99/100].Microseconds())/1000)
	return nil
}
