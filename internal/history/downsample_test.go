package history

import (
	"math"
	"math/rand"
	"testing"
)

func feed(d *Downsampler, vals []float64) {
	for i, v := range vals {
		d.Add(Point{Step: int64(i), Value: NumberValue(v)})
	}
}

func TestFewPointsPassThrough(t *testing.T) {
	d := NewDownsampler(0, 9, 100)
	feed(d, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	if d.Sampled() || len(d.Points()) != 10 || d.Total() != 10 {
		t.Fatalf("sampled %v points %d", d.Sampled(), len(d.Points()))
	}
}

// TestEveryBucketKeepsItsExtremes checks the M4 promise on random walks with
// spikes: for every bucket of the output grid, the raw min and max (and their
// steps) appear in the result, and the result is in step order.
func TestEveryBucketKeepsItsExtremes(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 20; trial++ {
		n := 1000 + rng.Intn(100000)
		limit := 4 * (1 + rng.Intn(300))
		vals := make([]float64, n)
		x := 0.0
		for i := range vals {
			x += rng.NormFloat64()
			if rng.Intn(5000) == 0 {
				x += 1000 * rng.NormFloat64() // a spike
			}
			vals[i] = x
		}
		d := NewDownsampler(0, int64(n-1), limit)
		feed(d, vals)
		out := d.Points()
		if len(out) > limit {
			t.Fatalf("n=%d limit=%d: %d points out", n, limit, len(out))
		}
		got := map[int64]float64{}
		for i, p := range out {
			if i > 0 && p.Step <= out[i-1].Step {
				t.Fatalf("output not in step order at %d", i)
			}
			got[p.Step] = p.Value.Num
		}
		width := d.width
		for start := 0; start < n; start += int(width) {
			end := min(start+int(width), n)
			lo, hi := start, start
			for i := start; i < end; i++ {
				if vals[i] < vals[lo] {
					lo = i
				}
				if vals[i] > vals[hi] {
					hi = i
				}
			}
			if got[int64(lo)] != vals[lo] || got[int64(hi)] != vals[hi] {
				t.Fatalf("n=%d limit=%d bucket [%d,%d): extremes at %d,%d missing", n, limit, start, end, lo, hi)
			}
		}
	}
}

func TestNonFiniteAndNonNumericKept(t *testing.T) {
	vals := make([]float64, 1000)
	for i := range vals {
		vals[i] = float64(i % 7)
	}
	vals[500] = math.NaN()
	vals[501] = math.NaN()
	vals[700] = math.Inf(1)
	vals[900] = math.Inf(-1)
	d := NewDownsampler(0, 999, 8) // two buckets
	feed(d, vals)
	d.Add(Point{Step: 1000, Value: Value{Kind: String, Text: "done"}})
	var nan, pinf, ninf, str int
	for _, p := range d.Points() {
		switch {
		case p.Value.Kind == String:
			str++
		case math.IsNaN(p.Value.Num):
			nan++
		case math.IsInf(p.Value.Num, 1):
			pinf++
		case math.IsInf(p.Value.Num, -1):
			ninf++
		}
	}
	if nan != 1 || pinf != 1 || ninf != 1 || str != 1 {
		t.Errorf("kept nan=%d +inf=%d -inf=%d str=%d; want one each", nan, pinf, ninf, str)
	}
}

func TestHugeStepRange(t *testing.T) {
	d := NewDownsampler(math.MinInt64/2, math.MaxInt64/2, 4)
	for i := 0; i < 100; i++ {
		d.Add(Point{Step: int64(i) * (math.MaxInt64 / 200), Value: NumberValue(float64(i))})
	}
	if got := len(d.Points()); got == 0 || got > 8 {
		t.Errorf("%d points", got)
	}
}

func TestValueJSON(t *testing.T) {
	cases := map[string]Value{
		`"NaN"`:         NumberValue(math.NaN()),
		`"Infinity"`:    NumberValue(math.Inf(1)),
		`"-Infinity"`:   NumberValue(math.Inf(-1)),
		`0.25`:          NumberValue(0.25),
		`true`:          {Kind: Bool, Num: 1},
		`false`:         {Kind: Bool},
		`"hi"`:          {Kind: String, Text: "hi"},
		`{"_type":"x"}`: {Kind: JSON, Text: `{"_type":"x"}`},
	}
	for want, v := range cases {
		b, err := v.MarshalJSON()
		if err != nil || string(b) != want {
			t.Errorf("%+v → %s, %v; want %s", v, b, err, want)
		}
	}
}

// TestReduceIsM4 feeds random series (ties, NaN, ±Inf) to one downsampler
// point by point and to another by bucket: Reduce + AddReduced for runs of
// points inside one bucket, AddFinite where every value is finite. The
// results must be identical.
func TestReduceIsM4(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	same := func(a, b float64) bool { return a == b || (a != a && b != b) }
	for iter := 0; iter < 300; iter++ {
		n := 1 + rng.Intn(3000)
		steps, times, values := make([]int64, n), make([]float64, n), make([]float64, n)
		st := int64(rng.Intn(10))
		for i := range steps {
			st += 1 + int64(rng.Intn(3))
			steps[i], times[i] = st, float64(st)/10
			values[i] = float64(rng.Intn(20))
			switch rng.Intn(60) {
			case 0:
				values[i] = math.NaN()
			case 1:
				values[i] = math.Inf(1)
			case 2:
				values[i] = math.Inf(-1)
			}
		}
		limit := 4 * (1 + rng.Intn(50))
		want := NewDownsampler(steps[0], steps[n-1], limit)
		got := NewDownsampler(steps[0], steps[n-1], limit)
		want.StartSampled()
		got.StartSampled()
		for i := range steps {
			want.Add(Point{Step: steps[i], Time: times[i], Value: NumberValue(values[i])})
		}
		// Runs of random length, cut at bucket edges.
		for i := 0; i < n; {
			j := min(n, i+1+rng.Intn(40))
			for k := i + 1; k < j; k++ {
				if got.Bucket(steps[k]) != got.Bucket(steps[i]) {
					j = k
					break
				}
			}
			red := Reduce(steps[i:j], times[i:j], values[i:j])
			finite := true
			for _, v := range values[i:j] {
				finite = finite && !math.IsNaN(v) && !math.IsInf(v, 0)
			}
			if finite && rng.Intn(2) == 0 {
				// first, min, max, last of the run, from Reduce's output.
				first, last := red[0], red[len(red)-1]
				mn, mx := first, first
				for _, p := range red {
					if p.Value.Num < mn.Value.Num {
						mn = p
					}
					if p.Value.Num > mx.Value.Num {
						mx = p
					}
				}
				got.AddFinite(first, mn, mx, last, int64(j-i))
			} else {
				got.AddReduced(red, int64(j-i))
			}
			i = j
		}
		w, g := want.Points(), got.Points()
		if len(w) != len(g) || want.Total() != got.Total() {
			t.Fatalf("iter %d: %d points (total %d), want %d (total %d)", iter, len(g), got.Total(), len(w), want.Total())
		}
		for i := range w {
			if w[i].Step != g[i].Step || !same(w[i].Value.Num, g[i].Value.Num) || w[i].Time != g[i].Time {
				t.Fatalf("iter %d: point %d = %+v, want %+v", iter, i, g[i], w[i])
			}
		}
	}
}
