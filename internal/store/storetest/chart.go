package storetest

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// cmpPoints compares points bit for bit where it matters: NaN equals NaN.
var cmpPoints = cmp.Comparer(func(a, b history.Point) bool {
	same := func(x, y float64) bool { return x == y || (x != x && y != y) }
	return a.Step == b.Step && same(a.Time, b.Time) && a.Value.Kind == b.Value.Kind &&
		same(a.Value.Num, b.Value.Num) && a.Value.Text == b.Value.Text
})

// testChart checks the backend's Charter (if any) against the reference M4
// on a long series with spikes, NaN and a late correction: the same points,
// whatever the bucket size, and every spike kept.
func testChart(t *testing.T, s store.Store, _ func() store.Store) {
	ch, ok := s.(history.Charter)
	if !ok {
		t.Skip("backend has no Charter")
	}
	ctx := context.Background()
	fixture(t, s)
	r := newRun(t, s, "p", "r1", nil)
	const n = 60000
	var rows []history.Row
	for i := int64(0); i < n; i++ {
		v := math.Sin(float64(i)/500) + float64(i%7)/100
		switch {
		case i == 12345:
			v = 1e9 // a spike
		case i == 45678:
			v = -1e9
		case i%9973 == 0:
			v = math.NaN()
		}
		rows = append(rows, row(i, "loss", v))
	}
	for seq := 0; seq*10000 < n; seq++ {
		apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: int64(seq), History: rows[seq*10000 : (seq+1)*10000]})
	}
	settle(t, s)
	// A late correction that stays in the write log until the next settle.
	apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: 99, History: []history.Row{row(30000, "loss", 5e8)}})
	ref := func(lo, hi int64, limit int) []history.Point {
		d := history.NewDownsampler(lo, hi, limit)
		for _, p := range scanAll(t, s, r.PK, "loss") {
			if p.Step >= lo && p.Step <= hi {
				d.Add(p)
			}
		}
		return d.Points()
	}
	has := func(pts []history.Point, v float64) bool {
		for _, p := range pts {
			if p.Value.Num == v || (math.IsNaN(v) && math.IsNaN(p.Value.Num)) {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		lo, hi int64
		limit  int
	}{{0, n - 1, 1200}, {0, n - 1, 40}, {10000, 14000, 1200}, {29000, 31000, 400}, {100, 150, 1000}} {
		got, err := ch.Chart(ctx, r.PK, "loss", history.Range{Min: c.lo, Max: c.hi}, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		want := ref(c.lo, c.hi, c.limit)
		if len(got.Points) > c.limit+c.limit/2 {
			t.Errorf("range %d-%d limit %d: %d points", c.lo, c.hi, c.limit, len(got.Points))
		}
		if got.Total != int64(c.hi-c.lo+1) {
			t.Errorf("range %d-%d: total %d", c.lo, c.hi, got.Total)
		}
		for i := 1; i < len(got.Points); i++ {
			if got.Points[i].Step <= got.Points[i-1].Step {
				t.Fatalf("range %d-%d: not in step order at %d", c.lo, c.hi, i)
			}
		}
		// Every spike in range survives, and so do the range's extremes.
		for _, p := range want {
			v := p.Value.Num
			if (v == 1e9 || v == -1e9 || v == 5e8 || math.IsNaN(v)) && !has(got.Points, v) {
				t.Errorf("range %d-%d limit %d: %v at step %d lost", c.lo, c.hi, c.limit, v, p.Step)
			}
		}
		if diff := cmp.Diff(want, got.Points, cmpPoints); diff != "" {
			t.Errorf("range %d-%d limit %d differs from reference M4 (-want +got):\n%s", c.lo, c.hi, c.limit, diff)
		}
	}
}

// refChart is the reference a Charter must match: every point of the
// series in r (Scan) fed to a Downsampler whose buckets span the first to
// the last of them.
func refChart(t *testing.T, s store.Store, runPK int64, key string, r history.Range, limit int) history.Chart {
	t.Helper()
	var in []history.Point
	for _, p := range scanAll(t, s, runPK, key) {
		if p.Step >= r.Min && p.Step <= r.Max {
			in = append(in, p)
		}
	}
	if len(in) == 0 {
		return history.Chart{}
	}
	d := history.NewDownsampler(in[0].Step, in[len(in)-1].Step, limit)
	for _, p := range in {
		d.Add(p)
	}
	return history.Chart{Points: d.Points(), Total: d.Total(), Sampled: d.Sampled()}
}

// testChartExact is a property test: over random series (gaps, ties,
// spikes, NaN and ±Inf, late rewrites still in the write log, a string
// among the numbers), random ranges and bucket counts, the backend's chart
// equals the reference M4, before and after compaction, and when asked
// again (a backend may cache).
func testChartExact(t *testing.T, s store.Store, _ func() store.Store) {
	ch, ok := s.(history.Charter)
	if !ok {
		t.Skip("backend has no Charter")
	}
	ctx := context.Background()
	fixture(t, s)
	rng := rand.New(rand.NewSource(5))
	for seed := 0; seed < 6; seed++ {
		r := newRun(t, s, "p", fmt.Sprintf("r%d", seed), nil)
		n := 1 + rng.Intn(30000)
		if seed == 0 {
			n = 1
		}
		var rows []history.Row
		step, v := int64(rng.Intn(100)), 0.0
		for i := 0; i < n; i++ {
			if rng.Intn(4) == 0 {
				step += 1 + int64(rng.Intn(50)) // gaps
			} else {
				step++
			}
			v += rng.NormFloat64()
			x := math.Round(v*4) / 4 // ties
			switch k := rng.Intn(2000); {
			case k == 0:
				x = math.NaN()
			case k == 1:
				x = math.Inf(1)
			case k == 2:
				x = math.Inf(-1)
			case k < 6:
				x = 1e6 * rng.NormFloat64() // spikes
			}
			rows = append(rows, row(step, "loss", x))
		}
		seq := int64(0)
		for lo := 0; lo < len(rows); seq++ {
			hi := min(len(rows), lo+1+rng.Intn(5000))
			apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "w", Seq: seq, History: rows[lo:hi]})
			lo = hi
		}
		settle(t, s)
		last := rows[len(rows)-1].Step
		check := func(when string) {
			t.Helper()
			for q := 0; q < 8; q++ {
				rg := history.All
				if q > 0 {
					a, b := rng.Int63n(last+20)-10, rng.Int63n(last+20)-10
					rg = history.Range{Min: min(a, b), Max: max(a, b)}
				}
				limit := []int{4, 40, 100, 400, 1200, 5000}[rng.Intn(6)]
				want := refChart(t, s, r.PK, "loss", rg, limit)
				for try := 0; try < 2; try++ {
					got, err := ch.Chart(ctx, r.PK, "loss", rg, limit)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(want.Points, got.Points, cmpPoints); diff != "" {
						t.Fatalf("seed %d %s: range %d..%d limit %d (try %d) differs from reference M4 (-want +got):\n%s",
							seed, when, rg.Min, rg.Max, limit, try, diff)
					}
					if got.Total != want.Total || got.Sampled != want.Sampled {
						t.Fatalf("seed %d %s: range %d..%d limit %d: total %d sampled %v, want %d %v",
							seed, when, rg.Min, rg.Max, limit, got.Total, got.Sampled, want.Total, want.Sampled)
					}
				}
			}
		}
		check("compacted")
		// Late points: rewrites of old steps and new steps in between,
		// a value that is not a number, all still in the write log.
		var late []history.Row
		for i := 0; i < 1+rng.Intn(50); i++ {
			late = append(late, row(rng.Int63n(last+1), "loss", 1e3*rng.NormFloat64()))
		}
		late = append(late, row(rng.Int63n(last+1), "loss", history.Value{Kind: history.String, Text: "oops"}))
		apply(t, s, store.Batch{RunPK: r.PK, ProjectPK: r.ProjectPK, Writer: "late", Seq: 0, History: late})
		check("with late points")
		settle(t, s)
		check("late points compacted")
	}
}
