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
// Every stream is then zstd-compressed. Decode(Encode(x)) == x bit for bit,
// NaN payloads and negative zero included.
package chunk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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

const version = 1

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

// rawStream marks a stream stored without zstd (EncodeFast).
const rawStream = 0x80

var (
	encOnce sync.Once
	enc     *zstd.Encoder
	trial   *zstd.Encoder // fast, for comparing candidate codecs
	dec     *zstd.Decoder
)

func codecs() (*zstd.Encoder, *zstd.Decoder) {
	encOnce.Do(func() {
		var err error
		enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err) // only fails on invalid options
		}
		trial, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
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
	out := []byte{version}
	out = binary.AppendUvarint(out, uint64(n))
	if n == 0 {
		return out, nil
	}
	out = appendStream(out, stepDoD, encodeDoD(p.Steps), fast)
	tc, tb := encodeTimes(p.Times)
	out = appendStream(out, tc, tb, fast)
	if fast {
		return appendStream(out, valF64, shuffle64(p.Values, false), true), nil
	}
	vc, vb := encodeValues(p.Values)
	return appendStream(out, vc, vb, false), nil
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

func encodeTimes(ts []float64) (byte, []byte) {
	if ints, ok := exactScaled(ts, 1e3); ok {
		return timeMilli, encodeDoD(ints)
	}
	if ints, ok := exactScaled(ts, 1e6); ok {
		return timeMicro, encodeDoD(ints)
	}
	return timeRaw, shuffle64(ts, false)
}

// encodeValues tries each applicable codec and keeps the smallest after
// compression.
func encodeValues(vs []float64) (byte, []byte) {
	first := math.Float64bits(vs[0])
	constant := true
	for _, v := range vs[1:] {
		if math.Float64bits(v) != first {
			constant = false
			break
		}
	}
	if constant {
		return valConst, binary.LittleEndian.AppendUint64(nil, first)
	}
	type cand struct {
		codec byte
		raw   []byte
	}
	var cands []cand
	if ints, ok := exactScaled(vs, 1); ok && !hasNegZero(vs) {
		cands = append(cands, cand{valInt, encodeDeltas(ints)})
	} else {
		for d := 1; d <= 6; d++ {
			if ints, ok := exactScaled(vs, math.Pow10(d)); ok && !hasNegZero(vs) {
				cands = append(cands, cand{valDecimal, append([]byte{byte(d)}, encodeDeltas(ints)...)})
				break
			}
		}
	}
	if isF32(vs) {
		cands = append(cands, cand{valF32, shuffle32(vs)})
	} else {
		cands = append(cands, cand{valF64, shuffle64(vs, false)}, cand{valF64XOR, shuffle64(vs, true)})
	}
	if len(cands) == 1 {
		return cands[0].codec, cands[0].raw
	}
	codecs()
	best, bestLen := cands[0], -1
	for _, c := range cands {
		if l := len(trial.EncodeAll(c.raw, nil)); bestLen < 0 || l < bestLen {
			best, bestLen = c, l
		}
	}
	return best.codec, best.raw
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
