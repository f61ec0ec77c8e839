// Command ingest measures Fluoro's durable ingest rate through the HTTP API:
// it starts the real fluoro binary on a temporary data directory, creates
// runs, and has concurrent writers send JSON batches (the SDK's wire format)
// as fast as acknowledgements come back. Every acknowledged point is on disk
// (group commit, fsync per group), so the rate is a durable one.
//
// It is a program, not a timed test: `make bench-ingest`, or
// `go run ./bench/ingest --fluoro bin/fluoro --points 200000` for a quick run.
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fluoro-dev/fluoro/bench/benchserver"
)

func main() {
	bin := flag.String("fluoro", "bin/fluoro", "path to the fluoro binary")
	writers := flag.Int("writers", 8, "concurrent writers (one run each)")
	rows := flag.Int("rows", 500, "history rows per batch")
	keys := flag.Int("keys", 20, "metrics per row")
	points := flag.Int("points", 2_000_000, "total points to send")
	flag.Parse()
	if err := run(*bin, *writers, *rows, *keys, *points); err != nil {
		fmt.Fprintln(os.Stderr, "bench ingest:", err)
		os.Exit(1)
	}
}

func run(bin string, writers, rows, keys, points int) error {
	data, err := os.MkdirTemp("", "fluoro-bench-ingest")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	s, err := benchserver.Start(bin, data, writers)
	if err != nil {
		return err
	}
	defer s.Stop()
	for w := 0; w < writers; w++ {
		if _, err := s.Call("POST", "/api/v1/projects/admin/bench/runs", []byte(fmt.Sprintf(`{"id":"w%d"}`, w))); err != nil {
			return err
		}
	}
	perBatch := rows * keys
	batches := (points + perBatch - 1) / perBatch
	// Pre-build bodies so the client's JSON cost stays out of the server's figure.
	bodies := make([][]byte, batches)
	rng := rand.New(rand.NewSource(1))
	for b := range bodies {
		bodies[b] = batchBody(fmt.Sprintf("w%d", b%writers), b, b/writers, rows, keys, rng)
	}
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := w; b < batches; b += writers {
				t0 := time.Now()
				_, err := s.Call("POST", "/api/v1/ingest", bodies[b])
				mu.Lock()
				lat = append(lat, time.Since(t0))
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}(w)
	}
	wg.Wait()
	took := time.Since(start)
	if firstErr != nil {
		return firstErr
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	_, peak := s.Memory()
	defer fmt.Printf("\nServer peak RSS: %d MB\n", peak>>20)
	total := batches * perBatch
	fmt.Printf("| writers | rows/batch | keys/row | points | seconds | points/s | batch p50 | batch p99 |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %d | %d | %d | %d | %.2f | %.0f | %v | %v |\n", writers, rows, keys, total, took.Seconds(),
		float64(total)/took.Seconds(), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond))
	return nil
}

func batchBody(writer string, seq, chunk, rows, keys int, rng *rand.Rand) []byte {
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"entity":"admin","project":"bench","run_id":%q,"writer":"bench","seq":%d,"history":[`, writer, seq)
	for r := 0; r < rows; r++ {
		step := chunk*rows + r
		if r > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"step":%d,"time":%.3f,"values":{`, step, 1.7e9+float64(step)*0.05)
		for k := 0; k < keys; k++ {
			if k > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `"train/metric_%02d":%.6g`, k, rng.Float64())
		}
		sb.WriteString("}}")
	}
	sb.WriteString("]}")
	return []byte(sb.String())
}
