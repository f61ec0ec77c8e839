// Package chunk encodes a run of numeric points of one series (steps, wall
// times, float64 values) into a compact, lossless byte string, and summarises
// it in fixed-size blocks so that charts can be drawn from the summaries
// without decoding.
//
// Encoding, per stream, picks the smallest of a few codecs:
//
//   - steps: delta-of-delta zigzag varints (a constant stride costs ~1 bit a
//     point after compression);
//   - times: integer milliseconds or microseconds with delta-of-delta when the
//     float seconds round-trip exactly through them, else the raw float64 bits
//     byte-shuffled;
//   - values: constant; integers (delta varints); decimals (value·10^d is an
//     integer that round-trips exactly, e.g. accuracy = k/10000); float32-exact
//     (float32 bits, byte-shuffled); or float64 bits, byte-shuffled, raw or
//     XOR'd with the previous value.
//
// Every stream is then zstd-compressed: steps and times whole, values one
// zstd frame per BlockSize points, so that a reader that needs a few blocks
// (a chart's bucket edges) decodes only their values (Reader).
// Decode(Encode(x)) == x bit for bit, NaN payloads and negative zero
// included. Chunks of version 1 (every stream whole) still decode.
package chunk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Points is a columnar run of points in strictly increasing step order.
type Points struct {
	Steps  []int64
	Times  []float64
	Values []float64
}

// Len returns the number of points.
func (p Points) Len() int { return len(p.Steps) }

// Chunk format versions: 1 compresses each stream whole (EncodeFast still
// writes it, uncompressed); 2 splits the values into a frame per block.
const (
	version1 = 1
	version  = 2
)

// Stream codecs.
const (
	stepDoD    = 1
	timeMilli  = 1
	timeMicro  = 2
	timeRaw    = 3
	valConst   = 1
	valInt     = 2
	valDecimal = 3
	valF32     = 4
	valF64     = 5
	valF64XOR  = 6
)

// ErrCorrupt is returned for bytes that are not a valid chunk.
var ErrCorrupt = errors.New("corrupt chunk")

// rawStream marks a stream stored without zstd (EncodeFast). linearStream
// (version 2) marks integers in arithmetic progression stored as the first
// and the stride (zigzag varints): steps, and wall times logged at a fixed
// interval, then cost nothing to decode.
const (
	rawStream    = 0x80
	linearStream = 0x40
)

var (
	encOnce sync.Once
	enc     *zstd.Encoder
	trial   *zstd.Encoder // fast, for comparing candidate codecs
	dec     *zstd.Decoder
)

func codecs() (*zstd.Encoder, *zstd.Decoder) {
	encOnce.Do(func() {
		var err error
		// EncodeAll takes one of an encoder's states per call: one per CPU
		// lets a compaction encode several series at once.
		enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
		if err != nil {
			panic(err) // only fails on invalid options
		}
		trial, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
		if err != nil {
			panic(err)
		}
		// DecodeAll takes one of the decoder's inner decoders for each call:
		// one per CPU lets concurrent reads (a chart of many runs) decode
		// in parallel instead of queueing on a single one.
		dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(256<<20))
		if err != nil {
			panic(err)
		}
	})
	return enc, dec
}

// Encode returns the chunk bytes for p, choosing the smallest codecs. Steps
// must be strictly increasing.
func Encode(p Points) ([]byte, error) { return encode(p, false) }

// EncodeFast encodes p cheaply: delta-of-delta steps and times, raw float64
// values, no zstd. It suits a series' open tail chunk, which is rewritten as
// points arrive; sealing it later re-encodes it with Encode.
func EncodeFast(p Points) ([]byte, error) { return encode(p, true) }

func encode(p Points, fast bool) ([]byte, error) {
	n := p.Len()
	if len(p.Times) != n || len(p.Values) != n {
		return nil, fmt.Errorf("encode chunk: %d steps, %d times, %d values", n, len(p.Times), len(p.Values))
	}
	for i := 1; i < n; i++ {
		if p.Steps[i] <= p.Steps[i-1] {
			return nil, fmt.Errorf("encode chunk: steps not increasing at %d (%d after %d)", i, p.Steps[i], p.Steps[i-1])
		}
	}
	ver := byte(version)
	if fast {
		ver = version1
	}
	out := []byte{ver}
	out = binary.AppendUvarint(out, uint64(n))
	if n == 0 {
		return out, nil
	}
	if fast {
		out = appendStream(out, stepDoD, encodeDoD(p.Steps), true)
		tc, tb, _ := encodeTimes(p.Times)
		out = appendStream(out, tc, tb, true)
		return appendStream(out, valF64, shuffle64(p.Values, false), true), nil
	}
	out = appendInts(out, stepDoD, p.Steps)
	if tc, tb, ints := encodeTimes(p.Times); ints != nil {
		out = appendInts(out, tc, ints)
	} else {
		out = appendStream(out, tc, tb, false)
	}
	return appendBlocks(out, p.Values), nil
}

// appendInts writes ints delta-of-delta encoded, or as a linear stream when
// they are an arithmetic progression (wrapping arithmetic is exact).
func appendInts(out []byte, codec byte, ints []int64) []byte {
	linear := true
	for i := 2; i < len(ints) && linear; i++ {
		linear = ints[i]-ints[i-1] == ints[1]-ints[0]
	}
	if !linear {
		return appendStream(out, codec, encodeDoD(ints), false)
	}
	var stride int64
	if len(ints) > 1 {
		stride = ints[1] - ints[0]
	}
	payload := binary.AppendUvarint(binary.AppendUvarint(nil, zigzag(ints[0])), zigzag(stride))
	out = append(out, codec|rawStream|linearStream)
	out = binary.AppendUvarint(out, uint64(len(payload)))
	return append(out, payload...)
}

// appendBlocks writes the values of version 2: the codec chosen for the
// whole chunk, then a frame length per block (shifted left one bit, the low
// bit set for a frame stored raw, where zstd would not shrink it), then the
// frames. Only floats, costly to decode, get a frame per block; a constant
// or integers (varints, cheap to decode, and small: a frame's entropy
// tables would outweigh them) are one frame for all the blocks.
func appendBlocks(out []byte, vs []float64) []byte {
	codec, digits := encodeValues(vs)
	type frame struct {
		data []byte
		raw  bool
	}
	var frames []frame
	e, _ := codecs()
	per := len(vs)
	if perBlock(codec) {
		per = BlockSize
	}
	for lo := 0; lo < len(vs); lo += per {
		raw := valueBlock(codec, digits, vs[lo:min(lo+per, len(vs))])
		if z := e.EncodeAll(raw, nil); codec != valConst && len(z) < len(raw) {
			frames = append(frames, frame{z, false})
		} else {
			frames = append(frames, frame{raw, true})
		}
	}
	out = append(out, codec)
	for _, f := range frames {
		l := uint64(len(f.data)) << 1
		if f.raw {
			l |= 1
		}
		out = binary.AppendUvarint(out, l)
	}
	for _, f := range frames {
		out = append(out, f.data...)
	}
	return out
}

// appendStream writes codec, then the payload (zstd-compressed unless raw)
// with its length.
func appendStream(out []byte, codec byte, payload []byte, raw bool) []byte {
	z := payload
	if raw {
		codec |= rawStream
	} else {
		e, _ := codecs()
		z = e.EncodeAll(payload, nil)
	}
	out = append(out, codec)
	out = binary.AppendUvarint(out, uint64(len(z)))
	return append(out, z...)
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// encodeDoD writes the first value, the first delta and then the
// delta-of-deltas, all as zigzag varints (wrapping arithmetic is exact).
func encodeDoD(v []int64) []byte {
	out := make([]byte, 0, len(v)+16)
	var prev, prevDelta int64
	for i, x := range v {
		switch i {
		case 0:
			out = binary.AppendUvarint(out, zigzag(x))
		default:
			d := x - prev
			out = binary.AppendUvarint(out, zigzag(d-prevDelta))
			prevDelta = d
		}
		prev = x
	}
	return out
}

// exactScaled reports whether every f equals float64(round(f*scale))/scale
// bit for bit, returning the integers.
func exactScaled(fs []float64, scale float64) ([]int64, bool) {
	out := make([]int64, len(fs))
	for i, f := range fs {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f*scale) > 1<<53 {
			return nil, false
		}
		r := math.Round(f * scale)
		if back := r / scale; math.Float64bits(back) != math.Float64bits(f) {
			return nil, false
		}
		out[i] = int64(r)
	}
	return out, true
}

// encodeTimes returns the time codec and its stream, and for integer
// milliseconds or microseconds the integers.
func encodeTimes(ts []float64) (byte, []byte, []int64) {
	if ints, ok := exactScaled(ts, 1e3); ok {
		return timeMilli, encodeDoD(ints), ints
	}
	if ints, ok := exactScaled(ts, 1e6); ok {
		return timeMicro, encodeDoD(ints), ints
	}
	return timeRaw, shuffle64(ts, false), nil
}

// encodeValues picks the codec for vs: the one that compresses smallest,
// stored as appendBlocks stores it. For valDecimal it also returns the digits.
func encodeValues(vs []float64) (codec byte, digits int) {
	first := math.Float64bits(vs[0])
	constant := true
	for _, v := range vs[1:] {
		if math.Float64bits(v) != first {
			constant = false
			break
		}
	}
	if constant {
		return valConst, 0
	}
	type cand struct {
		codec  byte
		digits int
	}
	var cands []cand
	if _, ok := exactScaled(vs, 1); ok && !hasNegZero(vs) {
		cands = append(cands, cand{valInt, 0})
	} else if !hasNegZero(vs) {
		for d := 1; d <= 6; d++ {
			if _, ok := exactScaled(vs, math.Pow10(d)); ok {
				cands = append(cands, cand{valDecimal, d})
				break
			}
		}
	}
	if isF32(vs) {
		cands = append(cands, cand{valF32, 0})
	} else {
		cands = append(cands, cand{valF64, 0}, cand{valF64XOR, 0})
	}
	if len(cands) == 1 {
		return cands[0].codec, cands[0].digits
	}
	codecs()
	// Compared compressed whole, a trial each (cheap); but integers, stored
	// whole, against floats, stored a block at a time, compare as stored:
	// a frame's entropy tables cost a small block much more.
	mixed := !perBlock(cands[0].codec)
	best, bestLen := cands[0], -1
	for _, c := range cands {
		per, l := len(vs), 0
		if mixed && perBlock(c.codec) {
			per = BlockSize
		}
		for lo := 0; lo < len(vs); lo += per {
			l += len(trial.EncodeAll(valueBlock(c.codec, c.digits, vs[lo:min(lo+per, len(vs))]), nil))
		}
		if bestLen < 0 || l < bestLen {
			best, bestLen = c, l
		}
	}
	return best.codec, best.digits
}

// perBlock reports whether values of codec get a frame per block.
func perBlock(codec byte) bool { return codec == valF32 || codec == valF64 || codec == valF64XOR }

// valueBlock encodes vs, all representable in codec, on their own: deltas
// and XORs start afresh, so each block decodes without the others.
func valueBlock(codec byte, digits int, vs []float64) []byte {
	switch codec {
	case valConst:
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(vs[0]))
	case valInt:
		ints, _ := exactScaled(vs, 1)
		return encodeDeltas(ints)
	case valDecimal:
		ints, _ := exactScaled(vs, math.Pow10(digits))
		return append([]byte{byte(digits)}, encodeDeltas(ints)...)
	case valF32:
		return shuffle32(vs)
	case valF64XOR:
		return shuffle64(vs, true)
	default:
		return shuffle64(vs, false)
	}
}

func hasNegZero(vs []float64) bool {
	for _, v := range vs {
		if v == 0 && math.Signbit(v) {
			return true
		}
	}
	return false
}

func isF32(vs []float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) {
			// A NaN's payload may not survive float32; keep float64 then.
			if math.Float64bits(float64(float32(v))) != math.Float64bits(v) {
				return false
			}
			continue
		}
		if float64(float32(v)) != v {
			return false
		}
	}
	return true
}

func encodeDeltas(ints []int64) []byte {
	out := make([]byte, 0, len(ints)+8)
	var prev int64
	for _, v := range ints {
		out = binary.AppendUvarint(out, zigzag(v-prev))
		prev = v
	}
	return out
}

// shuffle64 writes byte plane 0 of every value, then plane 1, and so on, so
// that similar exponents and high mantissa bytes sit together for zstd.
func shuffle64(vs []float64, xor bool) []byte {
	n := len(vs)
	out := make([]byte, 8*n)
	var prev uint64
	for i, v := range vs {
		u := math.Float64bits(v)
		if xor {
			u, prev = u^prev, u
		}
		for p := 0; p < 8; p++ {
			out[p*n+i] = byte(u >> (8 * p))
		}
	}
	return out
}

func shuffle32(vs []float64) []byte {
	n := len(vs)
	out := make([]byte, 4*n)
	for i, v := range vs {
		u := math.Float32bits(float32(v))
		for p := 0; p < 4; p++ {
			out[p*n+i] = byte(u >> (8 * p))
		}
	}
	return out
}
