package sqlite

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"github.com/fluoro-dev/fluoro/internal/history/chunk"
)

// logPoint is one numeric point in the write log.
type logPoint struct {
	step  int64
	time  float64
	value float64
}

// encodeLog packs the numeric points of one batch, grouped by key id, in the
// order they were logged: uvarint key count, then per key its id, point
// count and (zigzag step delta, float64 time, float64 value) triples. It is
// written on the ingest hot path, so it is plain and uncompressed; the
// compactor turns it into chunks.
func encodeLog(keys []int64, pts map[int64][]logPoint) []byte {
	n := 0
	for _, k := range keys {
		n += len(pts[k])
	}
	b := make([]byte, 0, 8+len(keys)*8+n*20)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		ps := pts[k]
		b = binary.AppendUvarint(b, uint64(k))
		b = binary.AppendUvarint(b, uint64(len(ps)))
		var prev int64
		for _, p := range ps {
			b = binary.AppendVarint(b, p.step-prev)
			prev = p.step
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.time))
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.value))
		}
	}
	return b
}

// decodeLog calls fn for each key's points of one log entry.
func decodeLog(b []byte, fn func(key int64, pts []logPoint)) error {
	nk, k := binary.Uvarint(b)
	if k <= 0 {
		return fmt.Errorf("history log entry: bad key count")
	}
	b = b[k:]
	for i := uint64(0); i < nk; i++ {
		key, k1 := binary.Uvarint(b)
		if k1 <= 0 {
			return fmt.Errorf("history log entry: bad key")
		}
		b = b[k1:]
		n, k2 := binary.Uvarint(b)
		if k2 <= 0 || n > uint64(len(b)) {
			return fmt.Errorf("history log entry: bad point count")
		}
		b = b[k2:]
		pts := make([]logPoint, n)
		var prev int64
		for j := range pts {
			d, k3 := binary.Varint(b)
			if k3 <= 0 || len(b) < k3+16 {
				return fmt.Errorf("history log entry: truncated")
			}
			prev += d
			pts[j] = logPoint{step: prev,
				time:  math.Float64frombits(binary.LittleEndian.Uint64(b[k3:])),
				value: math.Float64frombits(binary.LittleEndian.Uint64(b[k3+8:]))}
			b = b[k3+16:]
		}
		fn(int64(key), pts)
	}
	if len(b) != 0 {
		return fmt.Errorf("history log entry: trailing bytes")
	}
	return nil
}

// mergePoints merges older points with newer ones (both in any order): for
// equal steps the newer point wins, and among points of one slice the later
// one wins. The result is sorted by step. It also returns how many input
// points were replaced.
func mergePoints(older chunk.Points, newer []logPoint) (chunk.Points, int) {
	// The common case: new points come after the old ones, in order.
	fast := older.Len() == 0 || (len(newer) > 0 && newer[0].step > older.Steps[older.Len()-1])
	for i := 1; fast && i < len(newer); i++ {
		fast = newer[i].step > newer[i-1].step
	}
	if fast {
		out := chunk.Points{
			Steps:  append(make([]int64, 0, older.Len()+len(newer)), older.Steps...),
			Times:  append(make([]float64, 0, older.Len()+len(newer)), older.Times...),
			Values: append(make([]float64, 0, older.Len()+len(newer)), older.Values...),
		}
		for _, p := range newer {
			out.Steps = append(out.Steps, p.step)
			out.Times = append(out.Times, p.time)
			out.Values = append(out.Values, p.value)
		}
		return out, 0
	}
	all := make([]logPoint, 0, older.Len()+len(newer))
	for i := range older.Steps {
		all = append(all, logPoint{older.Steps[i], older.Times[i], older.Values[i]})
	}
	all = append(all, newer...)
	// Stable sort keeps arrival order among equal steps; keep the last.
	sort.SliceStable(all, func(i, j int) bool { return all[i].step < all[j].step })
	out := chunk.Points{Steps: make([]int64, 0, len(all)), Times: make([]float64, 0, len(all)), Values: make([]float64, 0, len(all))}
	replaced := 0
	for i, p := range all {
		if i+1 < len(all) && all[i+1].step == p.step {
			replaced++
			continue
		}
		out.Steps = append(out.Steps, p.step)
		out.Times = append(out.Times, p.time)
		out.Values = append(out.Values, p.value)
	}
	return out, replaced
}
