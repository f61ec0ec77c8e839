package history

import (
	"math"

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
// in step order with Add, after StartSampled, for a block that lies inside
// one bucket (BlockFits). The result is what adding the block's points
// would give when the block's first and last values are finite and it
// holds no NaN or ±Inf (whose wall times a summary does not keep: they are
// interpolated); callers that need exact output decode such blocks.
func (d *Downsampler) AddSummary(s chunk.Summary) {
	d.StartSampled()
	d.total += s.Count
	interp := func(step int64) float64 {
		if s.LastStep == s.FirstStep {
			return s.FirstTime
		}
		return s.FirstTime + (s.LastTime-s.FirstTime)*float64(step-s.FirstStep)/float64(s.LastStep-s.FirstStep)
	}
	var buf [7]Point
	pts := buf[:0]
	pts = append(pts, Point{Step: s.FirstStep, Time: s.FirstTime, Value: NumberValue(s.First)})
	if s.Finite > 0 {
		pts = append(pts, Point{Step: s.MinStep, Time: s.MinTime, Value: NumberValue(s.Min)},
			Point{Step: s.MaxStep, Time: s.MaxTime, Value: NumberValue(s.Max)})
	}
	if s.NaN > 0 {
		pts = append(pts, Point{Step: s.FirstNaN, Time: interp(s.FirstNaN), Value: NumberValue(math.NaN())})
	}
	if s.PosInf > 0 {
		pts = append(pts, Point{Step: s.FirstPosInf, Time: interp(s.FirstPosInf), Value: NumberValue(math.Inf(1))})
	}
	if s.NegInf > 0 {
		pts = append(pts, Point{Step: s.FirstNegInf, Time: interp(s.FirstNegInf), Value: NumberValue(math.Inf(-1))})
	}
	pts = append(pts, Point{Step: s.LastStep, Time: s.LastTime, Value: NumberValue(s.Last)})
	// Insertion sort: at most seven points, mostly in order already.
	for i := 1; i < len(pts); i++ {
		for j := i; j > 0 && pts[j].Step < pts[j-1].Step; j-- {
			pts[j], pts[j-1] = pts[j-1], pts[j]
		}
	}
	for i, p := range pts {
		if i > 0 && p.Step == pts[i-1].Step && sameClass(p.Value, pts[i-1].Value) {
			continue
		}
		d.addBucketed(p)
	}
}

// AddReduced feeds count points of one bucket by the few of them that M4
// keeps (see Reduce), in step order, after StartSampled: the result is the
// same as adding all count points.
func (d *Downsampler) AddReduced(pts []Point, count int64) {
	d.StartSampled()
	d.total += count
	for _, p := range pts {
		d.addBucketed(p)
	}
}

// AddFinite feeds count points of one bucket, all finite, by their first,
// minimum, maximum and last points (the minimum and maximum being the
// first occurrences of those values), after StartSampled: the same result
// as adding every point, with less work than AddReduced.
func (d *Downsampler) AddFinite(first, mn, mx, last Point, count int64) {
	d.total += count
	if b := d.bucketOf(first.Step); !d.hasB || b != d.bucket {
		d.flush()
		d.bucket, d.hasB = b, true
	}
	if !d.hasNum {
		d.first, d.min, d.max, d.last, d.hasNum = first, mn, mx, last, true
		return
	}
	d.last = last
	if mn.Value.Num < d.min.Value.Num {
		d.min = mn
	}
	if mx.Value.Num > d.max.Value.Num {
		d.max = mx
	}
}

// Bucket returns the index of the output bucket that holds step.
func (d *Downsampler) Bucket(step int64) uint64 { return d.bucketOf(step) }

// BucketStart returns the first step of bucket b.
func (d *Downsampler) BucketStart(b uint64) int64 { return d.lo + int64(b*d.width) }

// Reduce returns the points of a numeric run (steps rising, all in one
// bucket) that M4 keeps, in step order: the first and last finite values,
// the first minimum and maximum, and the first NaN, +Inf and -Inf. Feeding
// these to AddReduced gives the same result as feeding every point, which
// lets a caller cache a block's share of a bucket.
func Reduce(steps []int64, times, values []float64) []Point {
	const none = -1
	first, last, mn, mx, nan, pinf, ninf := none, none, none, none, none, none, none
	for i, v := range values {
		switch {
		case v != v:
			if nan == none {
				nan = i
			}
		case math.IsInf(v, 1):
			if pinf == none {
				pinf = i
			}
		case math.IsInf(v, -1):
			if ninf == none {
				ninf = i
			}
		default:
			if first == none {
				first, mn, mx = i, i, i
			}
			last = i
			if v < values[mn] {
				mn = i
			}
			if v > values[mx] {
				mx = i
			}
		}
	}
	idx := [7]int{first, mn, mx, last, nan, pinf, ninf}
	var sorted [7]int
	n := 0
	for _, i := range idx {
		if i != none {
			sorted[n] = i
			n++
		}
	}
	for i := 1; i < n; i++ {
		for j := i; j > 0 && sorted[j] < sorted[j-1]; j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	out := make([]Point, 0, n)
	for k := 0; k < n; k++ {
		if k > 0 && sorted[k] == sorted[k-1] {
			continue
		}
		i := sorted[k]
		out = append(out, Point{Step: steps[i], Time: times[i], Value: NumberValue(values[i])})
	}
	return out
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
	// Insertion sort (stable): a handful of points.
	for i := 1; i < len(pts); i++ {
		for j := i; j > 0 && pts[j].Step < pts[j-1].Step; j-- {
			pts[j], pts[j-1] = pts[j-1], pts[j]
		}
	}
	if d.out == nil {
		d.out = make([]Point, 0, d.limit+d.limit/4)
	}
	for i, p := range pts {
		if i > 0 && p.Step == pts[i-1].Step {
			continue
		}
		d.out = append(d.out, p)
	}
	d.hasB, d.hasNum = false, false
	d.special = d.special[:0]
}
