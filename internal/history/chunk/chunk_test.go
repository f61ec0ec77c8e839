package chunk

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"os"
	"reflect"
	"testing"
)

func gen(rng *rand.Rand, n int, kind int) Points {
	p := Points{Steps: make([]int64, n), Times: make([]float64, n), Values: make([]float64, n)}
	step := rng.Int63n(1000) - 500
	t := 1.7e9 + rng.Float64()
	for i := 0; i < n; i++ {
		step += 1 + int64(rng.Intn(3)*rng.Intn(2)) // mostly stride 1, some gaps
		if rng.Intn(1000) == 0 {
			step += rng.Int63n(1 << 40) // a big jump
		}
		p.Steps[i] = step
		switch kind % 3 {
		case 0:
			t += float64(rng.Intn(200)) / 1e3 // ms resolution
			p.Times[i] = math.Round(t*1e3) / 1e3
		case 1:
			t += rng.Float64() // full float
			p.Times[i] = t
		default:
			t += float64(rng.Intn(100000)) / 1e6
			p.Times[i] = math.Round(t*1e6) / 1e6
		}
		var v float64
		switch kind % 8 {
		case 0:
			v = float64(float32(2*math.Exp(-float64(i)/2000) + 0.05*rng.NormFloat64())) // float32 loss: a decaying curve plus noise
		case 1:
			v = rng.NormFloat64() * 1e-3 // float64 noise
		case 2:
			v = float64(rng.Intn(10001)) / 10000 // accuracy k/10000
		case 3:
			v = float64(rng.Intn(101)) // GPU %
		case 4:
			v = 3e-4 // constant lr
		case 5:
			v = 3e-4 * math.Cos(float64(i)/1000) // schedule
		case 6:
			v = []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0, math.MaxFloat64,
				math.SmallestNonzeroFloat64, math.Float64frombits(0x7ff8000000000123)}[rng.Intn(8)]
		case 7:
			v = float64(rng.Int63n(1<<53)) - (1 << 52)
		}
		p.Values[i] = v
	}
	return p
}

func sameBits(t *testing.T, what string, a, b []float64) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d values, want %d", what, len(b), len(a))
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			t.Fatalf("%s[%d] = %v (%#x), want %v (%#x)", what, i, b[i], math.Float64bits(b[i]), a[i], math.Float64bits(a[i]))
		}
	}
}

func TestRoundTripProperty(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	for trial := 0; trial < 300; trial++ {
		n := []int{0, 1, 2, 3, 255, 256, 257, 4096}[rng.Intn(8)]
		p := gen(rng, n, trial)
		if trial%7 == 3 {
			// steps and times both in arithmetic progression: stored linear,
			// filled a block at a time
			for i := range p.Steps {
				p.Steps[i] = -1<<40 + int64(i)*3
				p.Times[i] = float64(1_700_000_000_000+int64(i)*50) / 1e3
			}
		}
		encode := Encode
		if trial%5 == 0 {
			encode = EncodeFast
		}
		b, err := encode(p)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("trial %d: decode: %v", trial, err)
		}
		if got.Len() != n {
			t.Fatalf("trial %d: %d points back, want %d", trial, got.Len(), n)
		}
		for i := range p.Steps {
			if got.Steps[i] != p.Steps[i] {
				t.Fatalf("trial %d: step[%d] = %d, want %d", trial, i, got.Steps[i], p.Steps[i])
			}
		}
		sameBits(t, "times", p.Times, got.Times)
		sameBits(t, "values", p.Values, got.Values)
	}
}

func TestEncodeRejectsUnsortedSteps(t *testing.T) {
	_, err := Encode(Points{Steps: []int64{1, 1}, Times: []float64{0, 0}, Values: []float64{0, 0}})
	if err == nil {
		t.Fatal("duplicate steps accepted")
	}
	if _, err := Encode(Points{Steps: []int64{1}, Times: nil, Values: []float64{0}}); err == nil {
		t.Fatal("ragged columns accepted")
	}
}

// TestCompression pins the size on the shapes of BENCHMARKS.md's W9 mix so a
// codec regression shows up as a failure, not a surprise in the benchmark.
func TestCompression(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	n := 4096
	cases := []struct {
		name string
		kind int
		max  float64 // bytes per point, whole chunk (steps, ms times, values)
	}{
		{"float32 loss", 0, 3.6},
		{"accuracy k/10000", 2, 2.5},
		{"integer GPU %", 3, 1.6},
		{"constant lr", 4, 0.6},
		{"cosine lr schedule (float64)", 5, 7.5},
	}
	for _, c := range cases {
		p := gen(rng, n, c.kind)
		// Training-loop shape: stride-1 steps, ~50 ms apart at ms resolution.
		for i := range p.Steps {
			p.Steps[i] = int64(i)
			p.Times[i] = math.Round((1.7e9+float64(i)*0.05+rng.Float64()*0.002)*1e3) / 1e3
		}
		b, err := Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		bpp := float64(len(b)) / float64(n)
		t.Logf("%-30s %.2f B/point", c.name, bpp)
		if bpp > c.max {
			t.Errorf("%s: %.2f B/point, want <= %.2f", c.name, bpp, c.max)
		}
	}
}

func TestSummaries(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	p := gen(rng, 1000, 6) // full of non-finite values
	for i := 0; i < 1000; i += 7 {
		p.Values[i] = rng.NormFloat64()
	}
	ss := Summarize(p)
	if len(ss) != 4 {
		t.Fatalf("%d blocks", len(ss))
	}
	back, err := DecodeSummaries(EncodeSummaries(ss))
	if err != nil {
		t.Fatal(err)
	}
	fast, err := DecodeSummaries(EncodeSummariesFast(ss))
	if err != nil || len(fast) != len(back) || fast[2] != back[2] {
		t.Fatalf("fast summaries = %v, %v", fast, err)
	}
	for i := range ss {
		a, b := ss[i], back[i]
		if a.FirstStep != b.FirstStep || a.LastStep != b.LastStep || a.MinStep != b.MinStep || a.MaxStep != b.MaxStep ||
			a.Count != b.Count || a.NaN != b.NaN || a.FirstNaN != b.FirstNaN ||
			math.Float64bits(a.Min) != math.Float64bits(b.Min) || math.Float64bits(a.Last) != math.Float64bits(b.Last) {
			t.Fatalf("block %d: %+v != %+v", i, a, b)
		}
	}
	whole := summarizeRange(p, 0, p.Len())
	m := Merge(ss)
	if m.Count != whole.Count || m.Min != whole.Min || m.MinStep != whole.MinStep || m.Max != whole.Max ||
		m.MaxStep != whole.MaxStep || m.NaN != whole.NaN || m.FirstNaN != whole.FirstNaN || m.FirstPosInf != whole.FirstPosInf ||
		m.LastStep != whole.LastStep || m.Finite != whole.Finite {
		t.Errorf("Merge = %+v\nwhole = %+v", m, whole)
	}
}

func FuzzDecode(f *testing.F) {
	rng := rand.New(rand.NewSource(1))
	for k := 0; k < 8; k++ {
		b, _ := Encode(gen(rng, 50+k*100, k))
		f.Add(b)
	}
	f.Add([]byte{1, 5, 1, 0})
	f.Add([]byte{2, 5, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b) // must not panic or allocate without bound
		// A Reader reading block by block must not panic either, and
		// agrees with Decode on what decodes.
		var r Reader
		rerr := r.Reset(b)
		if rerr == nil {
			for i := (r.Len() + BlockSize - 1) / BlockSize; i >= 0; i-- {
				blk, berr := r.Block(i)
				if berr != nil || err != nil {
					continue
				}
				lo := i * BlockSize
				for j := range blk.Steps {
					if blk.Steps[j] != p.Steps[lo+j] || math.Float64bits(blk.Values[j]) != math.Float64bits(p.Values[lo+j]) {
						t.Fatalf("block %d point %d differs from Decode", i, j)
					}
				}
			}
		}
		if err != nil {
			return
		}
		if rerr != nil {
			t.Fatalf("Decode succeeded, Reader.Reset failed: %v", rerr)
		}
		if len(p.Times) != p.Len() || len(p.Values) != p.Len() {
			t.Fatalf("ragged decode: %d/%d/%d", p.Len(), len(p.Times), len(p.Values))
		}
	})
}

// TestDecodesVersion1 reads chunks written by the first format (every
// stream compressed whole), kept in testdata as an older Fluoro stored them.
func TestDecodesVersion1(t *testing.T) {
	rng := rand.New(rand.NewSource(2024)) // as the chunks were made
	for k := 0; k < 8; k++ {
		want := gen(rng, []int{300, 4096}[k%2], k)
		b, err := os.ReadFile(fmt.Sprintf("testdata/v1-kind%d.chunk", k))
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != version1 {
			t.Fatalf("kind %d: testdata is version %d", k, b[0])
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("kind %d: %v", k, err)
		}
		if !reflect.DeepEqual(want.Steps, got.Steps) {
			t.Fatalf("kind %d: steps differ", k)
		}
		sameBits(t, "times", want.Times, got.Times)
		sameBits(t, "values", want.Values, got.Values)
		checkBlocks(t, new(Reader), b, want)
	}
}

// checkBlocks reads b with a Reader, blocks in a scrambled order, and
// compares each with want.
func checkBlocks(t *testing.T, r *Reader, b []byte, want Points) {
	t.Helper()
	if err := r.Reset(b); err != nil {
		t.Fatal(err)
	}
	if r.Len() != want.Len() {
		t.Fatalf("Reader.Len = %d, want %d", r.Len(), want.Len())
	}
	nb := (want.Len() + BlockSize - 1) / BlockSize
	for _, i := range rand.New(rand.NewSource(int64(nb))).Perm(nb) {
		got, err := r.Block(i)
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		lo, hi := i*BlockSize, min((i+1)*BlockSize, want.Len())
		if !reflect.DeepEqual(want.Steps[lo:hi], got.Steps) {
			t.Fatalf("block %d: steps differ", i)
		}
		sameBits(t, "block times", want.Times[lo:hi], got.Times)
		sameBits(t, "block values", want.Values[lo:hi], got.Values)
	}
	if _, err := r.Block(nb); err == nil {
		t.Fatalf("block %d of %d read", nb, nb)
	}
}

// TestReaderBlocks: a Reader, reused from chunk to chunk (both versions,
// every codec, linear or not), returns each block as Decode does.
func TestReaderBlocks(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	var r Reader
	for trial := 0; trial < 60; trial++ {
		n := []int{1, 255, 256, 257, 1000, 4096}[rng.Intn(6)]
		p := gen(rng, n, trial)
		if trial%3 == 0 {
			for i := range p.Steps {
				p.Steps[i] = int64(i)
				p.Times[i] = float64(1_700_000_000_000+int64(i)*250) / 1e3
			}
		}
		encode := Encode
		if trial%4 == 0 {
			encode = EncodeFast
		}
		b, err := encode(p)
		if err != nil {
			t.Fatal(err)
		}
		checkBlocks(t, &r, b, p)
	}
}

// FuzzRoundTrip derives points from fuzz bytes and checks Decode(Encode(p)) == p.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Points
		step := int64(0)
		for len(b) >= 17 {
			step += int64(b[0]) + 1
			p.Steps = append(p.Steps, step)
			p.Times = append(p.Times, math.Float64frombits(binary.LittleEndian.Uint64(b[1:])))
			p.Values = append(p.Values, math.Float64frombits(binary.LittleEndian.Uint64(b[9:])))
			b = b[17:]
		}
		enc, err := Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "times", p.Times, got.Times)
		sameBits(t, "values", p.Values, got.Values)
		for i := range p.Steps {
			if p.Steps[i] != got.Steps[i] {
				t.Fatalf("step %d", i)
			}
		}
	})
}

// TestDecodeIntoReuses decodes chunks of different sizes and codecs into
// one Points: each result must equal a fresh Decode, whatever the memory
// held before.
func TestDecodeIntoReuses(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	var chunks [][]byte
	for _, n := range []int{4096, 100, 1, 3000, 4096} {
		var p Points
		for i := 0; i < n; i++ {
			p.Steps = append(p.Steps, int64(i*(1+rng.Intn(3))+i))
			p.Times = append(p.Times, float64(i)*0.25)
			switch n % 3 {
			case 0:
				p.Values = append(p.Values, rng.NormFloat64())
			case 1:
				p.Values = append(p.Values, float64(rng.Intn(100)))
			default:
				p.Values = append(p.Values, float64(float32(rng.Float64())))
			}
		}
		for i := 1; i < n; i++ {
			if p.Steps[i] <= p.Steps[i-1] {
				p.Steps[i] = p.Steps[i-1] + 1
			}
		}
		b, err := Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, b)
	}
	var into Points
	for i, b := range chunks {
		want, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := DecodeInto(&into, b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(want, into) {
			t.Fatalf("chunk %d: DecodeInto differs from Decode", i)
		}
	}
}
