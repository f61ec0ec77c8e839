// Command history measures Fluoro's history engine through the real binary:
//
//   - W9 storage: one run of a realistic metric mix (float32 loss, float64 lr
//     schedule, accuracy k/10000, float32 grad norm, integer GPU %), logged
//     through the HTTP API, then bytes per point on disk once compacted;
//   - W6 chart: one metric over R runs × S steps, queried at 1,200 px over
//     the full range and three zoom levels, cold and warm, with the share of
//     true per-bucket minima and maxima present in the answer.
//
// It is a program, not a timed test: `make bench-history` runs it at full
// size; `--w9-steps` and `--w6-runs/--w6-steps` shrink it (CI runs it small).
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fluoro-dev/fluoro/bench/benchserver"
)

func main() {
	bin := flag.String("fluoro", "bin/fluoro", "path to the fluoro binary")
	w9Steps := flag.Int("w9-steps", 1_000_000, "W9: steps of the metric-mix run")
	w6Runs := flag.Int("w6-runs", 100, "W6: runs")
	w6Steps := flag.Int("w6-steps", 1_000_000, "W6: steps per run")
	repeats := flag.Int("repeats", 20, "W6: warm queries per zoom level")
	w6Data := flag.String("w6-data", "", "W6: keep the data in this directory and, when it holds data from an earlier run\n(same runs and steps), query it without ingesting again")
	flag.Parse()
	if err := run(*bin, *w9Steps, *w6Runs, *w6Steps, *repeats, *w6Data); err != nil {
		fmt.Fprintln(os.Stderr, "bench history:", err)
		os.Exit(1)
	}
}

func run(bin string, w9Steps, w6Runs, w6Steps, repeats int, w6Data string) error {
	dir, err := os.MkdirTemp("", "fluoro-bench-history")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if w9Steps > 0 {
		if err := w9(bin, filepath.Join(dir, "w9"), w9Steps); err != nil {
			return fmt.Errorf("W9: %w", err)
		}
	}
	if w6Data == "" {
		w6Data = filepath.Join(dir, "w6")
	}
	return w6(bin, w6Data, w6Runs, w6Steps, repeats)
}

// send posts rows [lo, hi) built by row() as batches of batchRows.
func send(s *benchserver.Server, runID string, writers, steps, batchRows int, row func(step int, sb *strings.Builder)) error {
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	batches := (steps + batchRows - 1) / batchRows
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := w; b < batches; b += writers {
				var sb strings.Builder
				fmt.Fprintf(&sb, `{"entity":"admin","project":"bench","run_id":%q,"writer":"w","seq":%d,"history":[`, runID, b)
				for st := b * batchRows; st < min(steps, (b+1)*batchRows); st++ {
					if st > b*batchRows {
						sb.WriteByte(',')
					}
					row(st, &sb)
				}
				sb.WriteString("]}")
				if _, err := s.Call("POST", "/api/v1/ingest", []byte(sb.String())); err != nil {
					errc <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	return <-errc
}

func w9(bin, dir string, steps int) error {
	s, err := benchserver.Start(bin, dir, 4)
	if err != nil {
		return err
	}
	if _, err := s.Call("POST", "/api/v1/projects/admin/bench/runs", []byte(`{"id":"w9"}`)); err != nil {
		return err
	}
	rng := rand.New(rand.NewSource(9))
	noise := make([]float64, steps*2)
	for i := range noise {
		noise[i] = rng.NormFloat64()
	}
	start := time.Now()
	err = send(s, "w9", 4, steps, 2000, func(st int, sb *strings.Builder) {
		t := math.Round((1.7e9+float64(st)*0.05+float64(st%7)*0.001)*1e3) / 1e3 // wall time at ms resolution
		// float32 metrics arrive as the float64 holding the float32 value,
		// as Python sends a numpy.float32 or torch scalar.
		loss := float64(float32(2*math.Exp(-float64(st)/float64(steps/4)) + 0.05*noise[2*st]))
		lr := 3e-4 * 0.5 * (1 + math.Cos(math.Pi*float64(st)/float64(steps)))
		acc := float64(int(10000*(1-math.Exp(-float64(st)/float64(steps/3)))*0.95)) / 10000
		grad := float64(float32(math.Abs(1 + 0.3*noise[2*st+1])))
		gpu := 90 + st%11
		fmt.Fprintf(sb, `{"step":%d,"time":%.3f,"values":{"train/loss":%v,"train/lr":%v,"val/acc":%v,"train/grad_norm":%v,"system/gpu":%d}}`,
			st, t, loss, lr, acc, grad, gpu)
	})
	if err != nil {
		return err
	}
	took := time.Since(start)
	if _, err := s.Call("POST", "/api/v1/projects/admin/bench/runs/w9/finish", []byte(`{}`)); err != nil {
		return err
	}
	// Wait until the compactor has moved and sealed everything.
	points := int64(steps) * 5
	time.Sleep(3 * time.Second)
	if err := s.Stop(); err != nil {
		return err
	}
	size := dirSize(dir)
	var parts []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && info.Size() > 0 {
			rel, _ := filepath.Rel(dir, p)
			parts = append(parts, fmt.Sprintf("%s %d", rel, info.Size()))
		}
		return nil
	})
	fmt.Printf("\n## W9 storage: 1 run × %d steps × 5 metrics (realistic mix)\n\n", steps)
	fmt.Printf("| points | ingest s | points/s | data dir bytes | bytes/point |\n|---|---|---|---|---|\n")
	fmt.Printf("| %d | %.1f | %.0f | %d | %.2f |\n", points, took.Seconds(), float64(points)/took.Seconds(), size, float64(size)/float64(points))
	fmt.Printf("\nFiles: %s\n", strings.Join(parts, ", "))
	return nil
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// w6value is the W6 series: a noisy decaying curve with rare spikes.
func w6value(run, step int) float64 {
	h := uint64(run)*0x9E3779B97F4A7C15 ^ uint64(step)*0xBF58476D1CE4E5B9
	h ^= h >> 31
	noise := float64(h%10000)/10000 - 0.5
	v := 2*math.Exp(-float64(step)/300000) + 0.1*noise
	if h%100003 == 7 {
		v += 50 // a spike that charts which sample would drop
	}
	return v
}

type seriesJSON struct {
	Run    string    `json:"run"`
	Steps  []int64   `json:"steps"`
	Values []float64 `json:"values"`
}

func w6(bin, dir string, runs, steps, repeats int) error {
	ids := make([]string, runs)
	for r := range ids {
		ids[r] = fmt.Sprintf("r%03d", r)
	}
	// A directory filled by an earlier run of the same shape is reused.
	marker := filepath.Join(dir, fmt.Sprintf("w6-%d-runs-%d-steps", runs, steps))
	ingest, err := w6Ingest(bin, dir, ids, steps, marker)
	if err != nil {
		return err
	}
	s, err := benchserver.Start(bin, dir, 8) // cold: a fresh process
	if err != nil {
		return err
	}
	defer s.Stop()
	fmt.Printf("\n## W6 chart: 1 metric × %d runs × %d steps, 1,200 px (%s)\n\n", runs, steps, ingest)
	return w6Query(s, ids, steps, repeats)
}

// w6Ingest logs the W6 series unless marker shows dir already holds them,
// and describes what it did.
func w6Ingest(bin, dir string, ids []string, steps int, marker string) (string, error) {
	if _, err := os.Stat(marker); err == nil {
		return "data reused from " + dir, nil
	}
	s, err := benchserver.Start(bin, dir, 8)
	if err != nil {
		return "", err
	}
	start := time.Now()
	for r := range ids {
		if _, err := s.Call("POST", "/api/v1/projects/admin/bench/runs", []byte(fmt.Sprintf(`{"id":%q}`, ids[r]))); err != nil {
			s.Stop()
			return "", err
		}
		r := r
		if err := send(s, ids[r], 4, steps, 10000, func(st int, sb *strings.Builder) {
			fmt.Fprintf(sb, `{"step":%d,"time":%.3f,"values":{"loss":%v}}`, st, 1.7e9+float64(st)*0.05, w6value(r, st))
		}); err != nil {
			s.Stop()
			return "", err
		}
		if _, err := s.Call("POST", "/api/v1/projects/admin/bench/runs/"+ids[r]+"/finish", []byte(`{}`)); err != nil {
			s.Stop()
			return "", err
		}
	}
	took := time.Since(start)
	time.Sleep(3 * time.Second) // compaction and sealing
	if err := s.Stop(); err != nil {
		return "", err
	}
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		return "", err
	}
	return fmt.Sprintf("ingest %.1f s, %.0f points/s", took.Seconds(), float64(len(ids)*steps)/took.Seconds()), nil
}

// w6Query times the chart at four zoom levels and checks its extrema.
func w6Query(s *benchserver.Server, ids []string, steps, repeats int) error {
	runs := len(ids)
	var err error
	fmt.Printf("| range | cold ms | warm p50 ms | warm p99 ms | points returned | extrema kept |\n|---|---|---|---|---|---|\n")
	for _, frac := range []int{1, 10, 100, 1000} {
		lo, hi := 0, steps/frac-1
		if frac > 1 {
			lo = steps/2 - steps/frac/2
			hi = lo + steps/frac - 1
		}
		path := fmt.Sprintf("/api/v1/projects/admin/bench/history?runs=%s&keys=loss&points=1200&min_step=%d&max_step=%d",
			strings.Join(ids, ","), lo, hi)
		var lat []time.Duration
		var body []byte
		for i := 0; i <= repeats; i++ {
			t0 := time.Now()
			if body, err = s.Call("GET", path, nil); err != nil {
				return err
			}
			lat = append(lat, time.Since(t0))
		}
		cold := lat[0]
		warm := append([]time.Duration(nil), lat[1:]...)
		sort.Slice(warm, func(i, j int) bool { return warm[i] < warm[j] })
		var out struct{ Series []seriesJSON }
		if err := json.Unmarshal(body, &out); err != nil {
			return err
		}
		n := 0
		for _, se := range out.Series {
			n += len(se.Steps)
		}
		kept, total := extremaKept(out.Series, lo, hi)
		fmt.Printf("| %d–%d | %.1f | %.1f | %.1f | %d | %.1f%% (%d/%d) |\n", lo, hi, ms(cold), ms(warm[len(warm)/2]),
			ms(warm[len(warm)*99/100]), n, 100*float64(kept)/float64(total), kept, total)
	}
	// G7: single-series export at full resolution, binary columns.
	var best time.Duration
	var exported int
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		b, err := s.Call("GET", "/api/v1/projects/admin/bench/runs/"+ids[0]+"/history?format=binary&keys=loss", nil)
		if err != nil {
			return err
		}
		if d := time.Since(t0); best == 0 || d < best {
			best = d
		}
		exported = 0
		for len(b) >= 4 {
			n := int(binary.LittleEndian.Uint32(b))
			if n == 0 || len(b) < 4+24*n {
				break
			}
			exported += n
			b = b[4+24*n:]
		}
	}
	fmt.Printf("\nSingle-series export (format=binary, %d points): %.0f ms, %.1fM points/s\n",
		exported, ms(best), float64(exported)/best.Seconds()/1e6)
	rss, peak := s.Memory()
	fmt.Printf("\nServer after the queries (fresh process, %d points stored): RSS %.0f MB, peak %.0f MB\n",
		runs*steps, float64(rss)/(1<<20), float64(peak)/(1<<20))
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// extremaKept checks, for every series, that the true minimum and maximum of
// each of 300 equal step buckets (1,200 px / 4) appear among the answer's
// values (an engine that moved bucket edges, as Fluoro's did before its
// charts became exact M4, loses some).
func extremaKept(series []seriesJSON, lo, hi int) (kept, total int) {
	const buckets = 300
	width := (hi - lo + buckets) / buckets
	for _, se := range series {
		var r int
		fmt.Sscanf(se.Run, "r%d", &r)
		got := map[float64]bool{}
		for _, v := range se.Values {
			got[v] = true
		}
		for b := lo; b <= hi; b += width {
			mn, mx := math.Inf(1), math.Inf(-1)
			for st := b; st < min(b+width, hi+1); st++ {
				v := w6value(r, st)
				mn, mx = math.Min(mn, v), math.Max(mx, v)
			}
			total += 2
			if got[mn] {
				kept++
			}
			if got[mx] {
				kept++
			}
		}
	}
	return kept, total
}
