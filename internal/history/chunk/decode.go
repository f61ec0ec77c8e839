package chunk

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// scratchPool holds buffers for decompressed streams.
var scratchPool = sync.Pool{New: func() any { return new([3][]byte) }}

// Decode reverses Encode.
func Decode(b []byte) (Points, error) {
	var p Points
	err := DecodeInto(&p, b)
	return p, err
}

// DecodeInto is Decode into p, reusing its slices' memory when they have
// room (a reader that decodes chunk after chunk allocates nothing).
func DecodeInto(p *Points, b []byte) error {
	steps, times, values := p.Steps, p.Times, p.Values
	*p = Points{}
	if len(b) < 2 || b[0] != version {
		return fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > 1<<24 {
		return fmt.Errorf("%w: bad count", ErrCorrupt)
	}
	b = b[1+k:]
	if n == 0 {
		return nil
	}
	var streams [3]struct {
		codec byte
		data  []byte
	}
	_, d := codecs()
	// Decompressed streams live only until parsed: reuse their buffers.
	scratch := scratchPool.Get().(*[3][]byte)
	defer func() {
		for i := range scratch {
			if cap(scratch[i]) > 1<<20 { // do not keep what a huge chunk grew
				scratch[i] = nil
			}
		}
		scratchPool.Put(scratch)
	}()
	for i := range streams {
		if len(b) < 2 {
			return fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		streams[i].codec = b[0] &^ rawStream
		l, k := binary.Uvarint(b[1:])
		if k <= 0 || uint64(len(b)-1-k) < l {
			return fmt.Errorf("%w: bad stream length", ErrCorrupt)
		}
		if b[0]&rawStream != 0 {
			streams[i].data = b[1+k : 1+k+int(l)]
		} else {
			raw, err := d.DecodeAll(b[1+k:1+k+int(l)], scratch[i][:0])
			if err != nil {
				return fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			streams[i].data, scratch[i] = raw, raw
		}
		b = b[1+k+int(l):]
	}
	if streams[0].codec != stepDoD {
		return fmt.Errorf("%w: step codec %d", ErrCorrupt, streams[0].codec)
	}
	steps, times, values = resize(steps, int(n)), resize(times, int(n)), resize(values, int(n))
	if err := decodeDoDInto(steps, streams[0].data); err != nil {
		return err
	}
	if err := decodeTimes(times, streams[1].codec, streams[1].data); err != nil {
		return err
	}
	if err := decodeValues(values, streams[2].codec, streams[2].data); err != nil {
		return err
	}
	*p = Points{Steps: steps, Times: times, Values: values}
	return nil
}

// resize returns s with length n, reusing its memory when it has room.
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// decodeDoDInto decodes len(out) values. When every byte after the first
// value and delta is zero (a constant stride, the common case for steps and
// wall times) the rest is filled without parsing.
func decodeDoDInto(out []int64, b []byte) error {
	var prev, prevDelta int64
	j := 0
	for i := range out {
		if i == 2 && len(b)-j == len(out)-i && allZero(b[j:]) {
			for ; i < len(out); i++ {
				prev += prevDelta
				out[i] = prev
			}
			return nil
		}
		var u uint64
		if j < len(b) && b[j] < 0x80 { // one-byte varint: nearly every delta-of-delta
			u = uint64(b[j])
			j++
		} else {
			v, k := binary.Uvarint(b[j:])
			if k <= 0 {
				return fmt.Errorf("%w: truncated varints", ErrCorrupt)
			}
			u = v
			j += k
		}
		if i == 0 {
			prev = unzigzag(u)
		} else {
			prevDelta += unzigzag(u)
			prev += prevDelta
		}
		out[i] = prev
	}
	if j != len(b) {
		return fmt.Errorf("%w: trailing bytes", ErrCorrupt)
	}
	return nil
}

// allZero reports whether b holds only zero bytes, eight at a time.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func decodeTimes(out []float64, codec byte, b []byte) error {
	switch codec {
	case timeMilli, timeMicro:
		// Decode the integers in place, then turn each into seconds: an
		// int64 and a float64 are the same size.
		ints := unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(out))), len(out))
		if err := decodeDoDInto(ints, b); err != nil {
			return err
		}
		scale := 1e3
		if codec == timeMicro {
			scale = 1e6
		}
		for i, v := range ints {
			out[i] = float64(v) / scale
		}
		return nil
	case timeRaw:
		return unshuffle64(out, b, false)
	}
	return fmt.Errorf("%w: time codec %d", ErrCorrupt, codec)
}

func decodeDeltasInto(out []int64, b []byte) error {
	var prev int64
	for i := range out {
		u, k := binary.Uvarint(b)
		if k <= 0 {
			return fmt.Errorf("%w: truncated deltas", ErrCorrupt)
		}
		b = b[k:]
		prev += unzigzag(u)
		out[i] = prev
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: trailing bytes", ErrCorrupt)
	}
	return nil
}

func unshuffle64(out []float64, b []byte, xor bool) error {
	n := len(out)
	if len(b) != 8*n {
		return fmt.Errorf("%w: float64 stream of %d bytes for %d points", ErrCorrupt, len(b), n)
	}
	if n == 0 {
		return nil
	}
	// One slice per byte plane, read in step: eight sequential streams.
	p0, p1, p2, p3 := b[:n], b[n:2*n], b[2*n:3*n], b[3*n:4*n]
	p4, p5, p6, p7 := b[4*n:5*n], b[5*n:6*n], b[6*n:7*n], b[7*n:8*n]
	var prev uint64
	for i := range out {
		u := uint64(p0[i]) | uint64(p1[i])<<8 | uint64(p2[i])<<16 | uint64(p3[i])<<24 |
			uint64(p4[i])<<32 | uint64(p5[i])<<40 | uint64(p6[i])<<48 | uint64(p7[i])<<56
		if xor {
			u ^= prev
			prev = u
		}
		out[i] = math.Float64frombits(u)
	}
	return nil
}

func decodeValues(out []float64, codec byte, b []byte) error {
	n := len(out)
	switch codec {
	case valConst:
		if len(b) != 8 {
			return fmt.Errorf("%w: constant of %d bytes", ErrCorrupt, len(b))
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(b))
		for i := range out {
			out[i] = v
		}
		return nil
	case valInt, valDecimal:
		scale := 1.0
		if codec == valDecimal {
			if len(b) < 1 || b[0] < 1 || b[0] > 6 {
				return fmt.Errorf("%w: decimal scale", ErrCorrupt)
			}
			scale = math.Pow10(int(b[0]))
			b = b[1:]
		}
		ints := unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(out))), n) // in place, as for times
		if err := decodeDeltasInto(ints, b); err != nil {
			return err
		}
		for i, v := range ints {
			out[i] = float64(v) / scale
		}
		return nil
	case valF32:
		if len(b) != 4*n {
			return fmt.Errorf("%w: float32 stream", ErrCorrupt)
		}
		p0, p1, p2, p3 := b[:n], b[n:2*n], b[2*n:3*n], b[3*n:4*n]
		for i := range out {
			u := uint32(p0[i]) | uint32(p1[i])<<8 | uint32(p2[i])<<16 | uint32(p3[i])<<24
			out[i] = float64(math.Float32frombits(u))
		}
		return nil
	case valF64:
		return unshuffle64(out, b, false)
	case valF64XOR:
		return unshuffle64(out, b, true)
	}
	return fmt.Errorf("%w: value codec %d", ErrCorrupt, codec)
}
