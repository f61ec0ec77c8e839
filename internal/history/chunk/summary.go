package chunk

import (
	"encoding/binary"
	"fmt"
	"math"
)

// BlockSize is the number of points each summary covers (the last block of a
// chunk may be shorter).
const BlockSize = 256

// Summary describes a block of consecutive points: enough to draw it as one
// M4 bucket (first, last, min, max with their steps) and to aggregate it
// (count, sum), without decoding the points.
type Summary struct {
	FirstStep, LastStep int64
	FirstTime, LastTime float64
	First, Last         float64 // may be NaN or ±Inf
	Count               int64
	Finite              int64   // finite values; Min/Max/Sum cover only these
	Min, Max            float64 // meaningful when Finite > 0
	MinStep, MaxStep    int64
	MinTime, MaxTime    float64
	Sum                 float64
	NaN, PosInf, NegInf int64
	// The first step of each non-finite kind in the block, or -1.
	FirstNaN, FirstPosInf, FirstNegInf int64
}

// Summarize returns a summary per BlockSize points of p.
func Summarize(p Points) []Summary {
	var out []Summary
	for lo := 0; lo < p.Len(); lo += BlockSize {
		hi := min(lo+BlockSize, p.Len())
		out = append(out, summarizeRange(p, lo, hi))
	}
	return out
}

func summarizeRange(p Points, lo, hi int) Summary {
	s := Summary{
		FirstStep: p.Steps[lo], LastStep: p.Steps[hi-1],
		FirstTime: p.Times[lo], LastTime: p.Times[hi-1],
		First: p.Values[lo], Last: p.Values[hi-1],
		Count:    int64(hi - lo),
		FirstNaN: -1, FirstPosInf: -1, FirstNegInf: -1,
	}
	for i := lo; i < hi; i++ {
		v, st := p.Values[i], p.Steps[i]
		switch {
		case math.IsNaN(v):
			if s.NaN == 0 {
				s.FirstNaN = st
			}
			s.NaN++
		case math.IsInf(v, 1):
			if s.PosInf == 0 {
				s.FirstPosInf = st
			}
			s.PosInf++
		case math.IsInf(v, -1):
			if s.NegInf == 0 {
				s.FirstNegInf = st
			}
			s.NegInf++
		default:
			if s.Finite == 0 || v < s.Min {
				s.Min, s.MinStep, s.MinTime = v, st, p.Times[i]
			}
			if s.Finite == 0 || v > s.Max {
				s.Max, s.MaxStep, s.MaxTime = v, st, p.Times[i]
			}
			s.Sum += v
			s.Finite++
		}
	}
	return s
}

// Merge combines summaries of adjacent blocks, in step order, into one.
func Merge(ss []Summary) Summary {
	if len(ss) == 0 {
		return Summary{FirstNaN: -1, FirstPosInf: -1, FirstNegInf: -1}
	}
	m := ss[0]
	for _, s := range ss[1:] {
		m.LastStep, m.LastTime, m.Last = s.LastStep, s.LastTime, s.Last
		m.Count += s.Count
		if s.Finite > 0 {
			if m.Finite == 0 || s.Min < m.Min {
				m.Min, m.MinStep, m.MinTime = s.Min, s.MinStep, s.MinTime
			}
			if m.Finite == 0 || s.Max > m.Max {
				m.Max, m.MaxStep, m.MaxTime = s.Max, s.MaxStep, s.MaxTime
			}
		}
		m.Finite += s.Finite
		m.Sum += s.Sum
		if m.NaN == 0 {
			m.FirstNaN = s.FirstNaN
		}
		if m.PosInf == 0 {
			m.FirstPosInf = s.FirstPosInf
		}
		if m.NegInf == 0 {
			m.FirstNegInf = s.FirstNegInf
		}
		m.NaN += s.NaN
		m.PosInf += s.PosInf
		m.NegInf += s.NegInf
	}
	return m
}

// EncodeSummaries serialises summaries compactly (zstd over varints and
// float64 bits).
func EncodeSummaries(ss []Summary) []byte {
	e, _ := codecs()
	return e.EncodeAll(summaryBytes(ss), nil)
}

// EncodeSummariesFast serialises summaries without compression, for open
// tail chunks that are rewritten often.
func EncodeSummariesFast(ss []Summary) []byte {
	return append([]byte{0}, summaryBytes(ss)...)
}

func summaryBytes(ss []Summary) []byte {
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(ss)))
	f := func(v float64) { b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v)) }
	i := func(v int64) { b = binary.AppendVarint(b, v) }
	for _, s := range ss {
		i(s.FirstStep)
		i(s.LastStep - s.FirstStep)
		f(s.FirstTime)
		f(s.LastTime)
		f(s.First)
		f(s.Last)
		i(s.Count)
		i(s.Finite)
		f(s.Min)
		f(s.Max)
		i(s.MinStep - s.FirstStep)
		i(s.MaxStep - s.FirstStep)
		f(s.MinTime)
		f(s.MaxTime)
		f(s.Sum)
		i(s.NaN)
		i(s.PosInf)
		i(s.NegInf)
		i(s.FirstNaN)
		i(s.FirstPosInf)
		i(s.FirstNegInf)
	}
	return b
}

// DecodeSummaries reverses EncodeSummaries and EncodeSummariesFast (whose
// output starts with a zero byte, which no zstd frame does).
func DecodeSummaries(z []byte) ([]Summary, error) {
	var b []byte
	if len(z) > 0 && z[0] == 0 {
		b = z[1:]
	} else {
		_, d := codecs()
		var err error
		if b, err = d.DecodeAll(z, nil); err != nil {
			return nil, fmt.Errorf("%w: summaries: %v", ErrCorrupt, err)
		}
	}
	bad := false
	n, k := binary.Uvarint(b)
	if k <= 0 || n > 1<<20 {
		return nil, fmt.Errorf("%w: summary count", ErrCorrupt)
	}
	b = b[k:]
	f := func() float64 {
		if len(b) < 8 {
			bad = true
			return 0
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(b))
		b = b[8:]
		return v
	}
	i := func() int64 {
		v, k := binary.Varint(b)
		if k <= 0 {
			bad = true
			return 0
		}
		b = b[k:]
		return v
	}
	out := make([]Summary, 0, n)
	for j := uint64(0); j < n && !bad; j++ {
		var s Summary
		s.FirstStep = i()
		s.LastStep = s.FirstStep + i()
		s.FirstTime, s.LastTime, s.First, s.Last = f(), f(), f(), f()
		s.Count, s.Finite = i(), i()
		s.Min, s.Max = f(), f()
		s.MinStep, s.MaxStep = s.FirstStep+i(), s.FirstStep+i()
		s.MinTime, s.MaxTime = f(), f()
		s.Sum = f()
		s.NaN, s.PosInf, s.NegInf = i(), i(), i()
		s.FirstNaN, s.FirstPosInf, s.FirstNegInf = i(), i(), i()
		out = append(out, s)
	}
	if bad || len(b) != 0 {
		return nil, fmt.Errorf("%w: summaries truncated", ErrCorrupt)
	}
	return out, nil
}
