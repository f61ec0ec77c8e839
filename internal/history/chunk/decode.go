package chunk

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// readerPool holds Readers (their scratch buffers) for DecodeInto.
var readerPool = sync.Pool{New: func() any { return new(Reader) }}

// Decode reverses Encode.
func Decode(b []byte) (Points, error) {
	var p Points
	err := DecodeInto(&p, b)
	return p, err
}

// DecodeInto is Decode into p, reusing its slices' memory when they have
// room (a reader that decodes chunk after chunk allocates nothing).
func DecodeInto(p *Points, b []byte) error {
	r := readerPool.Get().(*Reader)
	defer func() {
		r.p = Points{} // the caller's memory stays the caller's
		for i := range r.buf {
			if cap(r.buf[i]) > 1<<20 { // do not keep what a huge chunk grew
				r.buf[i] = nil
			}
		}
		readerPool.Put(r)
	}()
	r.p = *p
	*p = Points{}
	if err := r.Reset(b); err != nil {
		return err
	}
	if err := r.decodeAll(); err != nil {
		return err
	}
	*p = r.p
	return nil
}

// A Reader decodes a chunk block by block, as blocks are asked for (its
// steps and times at once, unless both are arithmetic progressions): a chart that needs the points of
// a few blocks (those its bucket edges cut) decodes only those. A Reader
// reuses its memory from chunk to chunk. The zero Reader is ready to use.
type Reader struct {
	p      Points
	lin    *linear // steps and integer times in arithmetic progression: filled a block at a time
	linBuf linear
	codec  byte
	frames []frame // version 2: a frame of values per block (one for a constant)
	done   []bool  // blocks whose values are decoded
	buf    [3][]byte
}

type frame struct {
	data []byte
	raw  bool
}

// linear is a chunk's steps and times when both are arithmetic
// progressions: step i is step0 + i·stepD, time i (t0 + i·tD) / scale.
type linear struct {
	step0, stepD, t0, tD int64
	scale                float64
}

// fill writes the steps and times of points [lo, hi).
func (l *linear) fill(p Points, lo, hi int) {
	st, t := l.step0+int64(lo)*l.stepD, l.t0+int64(lo)*l.tD
	for i := lo; i < hi; i++ {
		p.Steps[i], p.Times[i] = st, float64(t)/l.scale
		st += l.stepD
		t += l.tD
	}
}

// parseLinear reads a linear stream's first value and stride.
func parseLinear(b []byte) (first, stride int64, err error) {
	f, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, 0, fmt.Errorf("%w: linear stream", ErrCorrupt)
	}
	d, k2 := binary.Uvarint(b[k:])
	if k2 <= 0 || k+k2 != len(b) {
		return 0, 0, fmt.Errorf("%w: linear stream", ErrCorrupt)
	}
	return unzigzag(f), unzigzag(d), nil
}

// Reset reads the chunk b. b must not change while the Reader reads it
// (until the next Reset).
func (r *Reader) Reset(b []byte) error {
	if err := r.reset(b); err != nil {
		r.p = Points{Steps: r.p.Steps[:0], Times: r.p.Times[:0], Values: r.p.Values[:0]}
		r.frames = r.frames[:0]
		return err
	}
	return nil
}

// Len returns the number of points in the chunk.
func (r *Reader) Len() int { return len(r.p.Steps) }

// Block returns the points of block i (BlockSize points from i×BlockSize),
// decoding its values if not done yet. What it returns is valid until the
// next Reset.
func (r *Reader) Block(i int) (Points, error) {
	lo, hi := i*BlockSize, min((i+1)*BlockSize, r.Len())
	if i < 0 || lo >= hi {
		return Points{}, fmt.Errorf("chunk of %d points has no block %d", r.Len(), i)
	}
	if !r.done[i] {
		if err := r.decodeBlock(i, &r.buf[2]); err != nil {
			return Points{}, err
		}
	}
	return Points{Steps: r.p.Steps[lo:hi:hi], Times: r.p.Times[lo:hi:hi], Values: r.p.Values[lo:hi:hi]}, nil
}

// reset parses b and decodes steps and times (decompressing into buf 0 and
// 1) unless linear, and for version 1 the values too; the rest waits for
// decodeBlock.
func (r *Reader) reset(b []byte) error {
	scratch := &r.buf
	steps, times, values := r.p.Steps, r.p.Times, r.p.Values
	r.p = Points{Steps: steps[:0], Times: times[:0], Values: values[:0]}
	r.frames = r.frames[:0]
	if len(b) < 2 || (b[0] != version1 && b[0] != version) {
		return fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	ver := b[0]
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > 1<<24 {
		return fmt.Errorf("%w: bad count", ErrCorrupt)
	}
	b = b[1+k:]
	if n == 0 {
		if len(b) != 0 {
			return fmt.Errorf("%w: trailing bytes", ErrCorrupt)
		}
		return nil
	}
	nstreams := 3
	if ver == version {
		nstreams = 2
	}
	var streams [3]struct {
		codec  byte
		linear bool
		data   []byte
	}
	_, d := codecs()
	for i := 0; i < nstreams; i++ {
		if len(b) < 2 {
			return fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		streams[i].codec = b[0] &^ (rawStream | linearStream)
		streams[i].linear = b[0]&linearStream != 0 && ver == version && i < 2
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
	if ver == version {
		if err := r.parseFrames(b, int(n)); err != nil {
			return err
		}
	} else if len(b) != 0 {
		return fmt.Errorf("%w: trailing bytes", ErrCorrupt)
	}
	steps, times, values = resize(steps, int(n)), resize(times, int(n)), resize(values, int(n))
	r.lin = nil
	if streams[0].linear && streams[1].linear && (streams[1].codec == timeMilli || streams[1].codec == timeMicro) {
		// Both are filled a block at a time, with the values.
		l := &r.linBuf
		var err error
		if l.step0, l.stepD, err = parseLinear(streams[0].data); err != nil {
			return err
		}
		if l.t0, l.tD, err = parseLinear(streams[1].data); err != nil {
			return err
		}
		l.scale = 1e3
		if streams[1].codec == timeMicro {
			l.scale = 1e6
		}
		r.lin = l
	} else {
		if err := decodeInts(steps, streams[0].data, streams[0].linear); err != nil {
			return err
		}
		if err := decodeTimes(times, streams[1].codec, streams[1].data, streams[1].linear); err != nil {
			return err
		}
	}
	nb := (int(n) + BlockSize - 1) / BlockSize
	r.done = resize(r.done, nb)
	if ver == version1 {
		if err := decodeValues(values, streams[2].codec, streams[2].data); err != nil {
			return err
		}
		for i := range r.done {
			r.done[i] = true
		}
	} else {
		clear(r.done)
	}
	r.p = Points{Steps: steps, Times: times, Values: values}
	return nil
}

// parseFrames reads the values section of version 2 for n points.
func (r *Reader) parseFrames(b []byte, n int) error {
	if len(b) < 1 {
		return fmt.Errorf("%w: truncated values", ErrCorrupt)
	}
	r.codec = b[0]
	b = b[1:]
	nf := 1
	if perBlock(r.codec) {
		nf = (n + BlockSize - 1) / BlockSize
	}
	// The table of lengths, then the frames: read the table twice rather
	// than keep it.
	table := b
	for i := 0; i < nf; i++ {
		_, k := binary.Uvarint(b)
		if k <= 0 {
			return fmt.Errorf("%w: bad frame table", ErrCorrupt)
		}
		b = b[k:]
	}
	for i := 0; i < nf; i++ {
		l, k := binary.Uvarint(table)
		table = table[k:]
		size := l >> 1
		if uint64(len(b)) < size {
			return fmt.Errorf("%w: frame past the end", ErrCorrupt)
		}
		r.frames = append(r.frames, frame{data: b[:size:size], raw: l&1 != 0})
		b = b[size:]
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: trailing bytes", ErrCorrupt)
	}
	return nil
}

// decodeBlock decodes the values of block i (for a constant, of them all),
// decompressing into *scratch.
func (r *Reader) decodeBlock(i int, scratch *[]byte) error {
	lo, hi := i*BlockSize, min((i+1)*BlockSize, r.Len())
	whole := !perBlock(r.codec)
	if whole {
		i, lo, hi = 0, 0, r.Len()
	}
	f := r.frames[i]
	if r.lin != nil {
		r.lin.fill(r.p, lo, hi)
	}
	data := f.data
	if !f.raw {
		_, d := codecs()
		// A block holds at most 8 bytes a value (and a little for varints):
		// more is corrupt, not worth the memory.
		out, err := d.DecodeAll(f.data, (*scratch)[:0])
		if err != nil {
			return fmt.Errorf("%w: block %d: %v", ErrCorrupt, i, err)
		}
		if len(out) > 10*(hi-lo)+16 {
			return fmt.Errorf("%w: block %d too large", ErrCorrupt, i)
		}
		data, *scratch = out, out
	}
	if err := decodeValues(r.p.Values[lo:hi], r.codec, data); err != nil {
		return fmt.Errorf("block %d: %w", i, err)
	}
	if whole {
		for j := range r.done {
			r.done[j] = true
		}
	} else {
		r.done[i] = true
	}
	return nil
}

// decodeAll decodes every block's values not decoded yet.
func (r *Reader) decodeAll() error {
	for i, ok := range r.done {
		if !ok {
			if err := r.decodeBlock(i, &r.buf[2]); err != nil {
				return err
			}
		}
	}
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

// decodeInts decodes a delta-of-delta or linear stream into out.
func decodeInts(out []int64, b []byte, linear bool) error {
	if !linear {
		return decodeDoDInto(out, b)
	}
	v, d, err := parseLinear(b)
	if err != nil {
		return err
	}
	for i := range out {
		out[i] = v
		v += d
	}
	return nil
}

func decodeTimes(out []float64, codec byte, b []byte, linear bool) error {
	switch codec {
	case timeMilli, timeMicro:
		// Decode the integers in place, then turn each into seconds: an
		// int64 and a float64 are the same size.
		ints := unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(out))), len(out))
		if err := decodeInts(ints, b, linear); err != nil {
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
		if linear {
			return fmt.Errorf("%w: linear raw times", ErrCorrupt)
		}
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
