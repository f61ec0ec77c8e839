package api_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluoro-dev/fluoro/internal/api"
)

// BenchmarkIngest posts W2-like batches (500 rows × 20 keys) from 8
// concurrent writers through the real handler and store, the in-process
// half of bench/ingest: go test ./internal/api -run '^$' -bench Ingest -cpuprofile cpu.out
func BenchmarkIngest(b *testing.B) {
	e := newEnvTB(b, 32<<20)
	const writers, rows, keys = 8, 500, 20
	for w := 0; w < writers; w++ {
		e.createRun("p", fmt.Sprintf("w%d", w))
	}
	rng := rand.New(rand.NewSource(1))
	// Per writer: the text of each row after its step, rendered once.
	tails := make([][]string, writers)
	for w := range tails {
		tails[w] = make([]string, rows)
		for r := 0; r < rows; r++ {
			var sb strings.Builder
			fmt.Fprintf(&sb, `,"time":%.3f,"values":{`, 1.7e9+float64(r)*0.05)
			for k := 0; k < keys; k++ {
				if k > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `"train/metric_%02d":%.6g`, k, rng.Float64())
			}
			sb.WriteString("}}")
			tails[w][r] = sb.String()
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				// Each writer owns run w%writers; seq and steps grow per batch.
				seq := i / writers
				var buf bytes.Buffer
				// As the SDK sends them: each batch counts its writer's points so far.
				fmt.Fprintf(&buf, `{"entity":"admin","project":"p","run_id":"w%d","writer":"bench","seq":%d,"logged":%d,"history":[`,
					w, seq, (seq+1)*rows*keys)
				for r, tail := range tails[w] {
					if r > 0 {
						buf.WriteByte(',')
					}
					fmt.Fprintf(&buf, `{"step":%d`, seq*rows+r)
					buf.WriteString(tail)
				}
				buf.WriteString("]}")
				body := buf.Bytes()
				req, _ := http.NewRequest("POST", e.url+"/api/v1/ingest", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+adminKey)
				req.Header.Set(api.SpooledHeader, strconv.Itoa((seq+1)*rows*keys))
				res, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Errorf("ingest: %d", res.StatusCode)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N*rows*keys)/time.Since(start).Seconds(), "points/s")
}
