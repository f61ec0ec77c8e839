package history

import (
	"math"
	"sort"

	"github.com/fluoro-dev/fluoro/internal/history/chunk"
)

// Downsampler reduces a series, fed in step order, to at most about Limit
// points using the M4 idea: the step range is cut into Limit/4 buckets and
// each bucket keeps its first, last, minimum and maximum point, so a chart
// drawn from the result shows every spike the raw data has. Non-finite
// numbers (NaN, ±Inf) are kept once per bucket each, and so is the first
// non-numeric value, so that they can be drawn as markers.
//
// Until more than Limit points have been added the raw points are kept and
// returned unchanged.
type Downsampler struct {
	lo, hi  int64
	limit   int
	width   uint64
	raw     []Point
	sampled bool
	out     []Point
	total   int64

	bucket  uint64
	hasB    bool
	first   Point
	last    Point
	min     Point
	max     Point
	hasNum  bool
	special []Point // non-finite and non-numeric points of the bucket
}

// NewDownsampler returns a downsampler for points with steps in [lo, hi]
// that returns at most about limit points (limit < 4 is raised to 4).
func NewDownsampler(lo, hi int64, limit int) *Downsampler {
	if limit < 4 {
		limit = 4
	}
	if hi < lo {
		hi = lo
	}
	buckets := uint64(limit / 4)
	span := uint64(hi-lo) + 1
	width := span / buckets
	if span%buckets != 0 {
		width++
	}
	if width == 0 {
		width = 1
	}
	return &Downsampler{lo: lo, hi: hi, limit: limit, width: width}
}

// Add feeds the next point; steps must not decrease.
func (d *Downsampler) Add(p Point) {
	d.total++
	if !d.sampled {
		d.raw = append(d.raw, p)
		if len(d.raw) > d.limit {
			d.StartSampled()
		}
		return
	}
	d.addBucketed(p)
}

// Total is the number of points added.
func (d *Downsampler) Total() int64 { return d.total }

// Sampled reports whether the result is a reduction of the input.
func (d *Downsampler) Sampled() bool { return d.sampled }

// Points returns the result in step order.
func (d *Downsampler) Points() []Point {
	if !d.sampled {
		return d.raw
	}
	d.flush()
	return d.out
}

// StartSampled switches to bucketed output now, for callers that know the
// input exceeds the limit (and may feed summaries).
func (d *Downsampler) StartSampled() {
	if d.sampled {
		return
	}
	d.sampled = true
	raw := d.raw
	d.raw = nil
	for _, q := range raw {
		d.addBucketed(q)
	}
}

func (d *Downsampler) bucketOf(step int64) uint64 {
	if step <= d.lo {
		return 0
	}
	return uint64(step-d.lo) / d.width
}

// BlockFits reports whether steps first..last fall into one output bucket,
// so that a block summary stands for them exactly.
func (d *Downsampler) BlockFits(first, last int64) bool {
	return d.sampled && d.bucketOf(first) == d.bucketOf(last)
}

// AddSummary feeds a block of points by its summary: its first, last,
// minimum and maximum points and the first of each non-finite kind. Call it
// in step order with Add, after StartSampled.
func (d *Downsampler) AddSummary(s chunk.Summary) {
	d.StartSampled()
	d.total += s.Count
	interp := func(step int64) float64 {
		if s.LastStep == s.FirstStep {
			return s.FirstTime
		}
		return s.FirstTime + (s.LastTime-s.FirstTime)*float64(step-s.FirstStep)/float64(s.LastStep-s.FirstStep)
	}
	pts := []Point{
		{Step: s.FirstStep, Time: s.FirstTime, Value: NumberValue(s.First)},
		{Step: s.LastStep, Time: s.LastTime, Value: NumberValue(s.Last)},
	}
	if s.Finite > 0 {
		pts = append(pts, Point{Step: s.MinStep, Time: s.MinTime, Value: NumberValue(s.Min)},
			Point{Step: s.MaxStep, Time: s.MaxTime, Value: NumberValue(s.Max)})
	}
	for _, sp := range []struct {
		n    int64
		step int64
		v    float64
	}{{s.NaN, s.FirstNaN, math.NaN()}, {s.PosInf, s.FirstPosInf, math.Inf(1)}, {s.NegInf, s.FirstNegInf, math.Inf(-1)}} {
		if sp.n > 0 {
			pts = append(pts, Point{Step: sp.step, Time: interp(sp.step), Value: NumberValue(sp.v)})
		}
	}
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].Step < pts[j].Step })
	for i, p := range pts {
		if i > 0 && p.Step == pts[i-1].Step && sameClass(p.Value, pts[i-1].Value) {
			continue
		}
		d.addBucketed(p)
	}
}

func (d *Downsampler) addBucketed(p Point) {
	b := d.bucketOf(p.Step)
	if !d.hasB || b != d.bucket {
		d.flush()
		d.bucket, d.hasB = b, true
	}
	if p.Value.Kind != Number || math.IsNaN(p.Value.Num) || math.IsInf(p.Value.Num, 0) {
		d.addSpecial(p)
		return
	}
	if !d.hasNum {
		d.first, d.last, d.min, d.max, d.hasNum = p, p, p, p, true
		return
	}
	d.last = p
	if p.Value.Num < d.min.Value.Num {
		d.min = p
	}
	if p.Value.Num > d.max.Value.Num {
		d.max = p
	}
}

func (d *Downsampler) addSpecial(p Point) {
	for _, q := range d.special {
		if sameClass(p.Value, q.Value) {
			return
		}
	}
	d.special = append(d.special, p)
}

// sameClass groups values a bucket keeps one of: NaN, +Inf, -Inf, or any
// non-numeric value.
func sameClass(a, b Value) bool {
	if a.Kind != Number || b.Kind != Number {
		return a.Kind != Number && b.Kind != Number
	}
	switch {
	case math.IsNaN(a.Num):
		return math.IsNaN(b.Num)
	default:
		return a.Num == b.Num // +Inf or -Inf
	}
}

func (d *Downsampler) flush() {
	if !d.hasB {
		return
	}
	pts := d.special
	if d.hasNum {
		pts = append(pts, d.first, d.min, d.max, d.last)
	}
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].Step < pts[j].Step })
	for i, p := range pts {
		if i > 0 && p.Step == pts[i-1].Step {
			continue
		}
		d.out = append(d.out, p)
	}
	d.hasB, d.hasNum = false, false
	d.special = d.special[:0]
}
