package chunk

import (
	"math"
	"testing"
)

// w6Points is one chunk of bench/history's W6 series: dense steps, wall
// times at 50 ms, a noisy decaying float64 loss.
func w6Points(n int) Points {
	var p Points
	for st := 0; st < n; st++ {
		run := uint64(7)
		h := run*0x9E3779B97F4A7C15 ^ uint64(st)*0xBF58476D1CE4E5B9
		h ^= h >> 31
		noise := float64(h%10000)/10000 - 0.5
		v := 2*math.Exp(-float64(st)/300000) + 0.1*noise
		p.Steps = append(p.Steps, int64(st))
		p.Times = append(p.Times, math.Round((1.7e9+float64(st)*0.05)*1e3)/1e3)
		p.Values = append(p.Values, v)
	}
	return p
}

// BenchmarkDecodeW6 decodes a full W6 chunk into reused memory, as a chart
// that decodes chunk after chunk does.
func BenchmarkDecodeW6(b *testing.B) {
	data, err := Encode(w6Points(4096))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(4096 * 24)
	var p Points
	for b.Loop() {
		if err := DecodeInto(&p, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode encodes a full chunk of each W9 shape, as sealing does.
func BenchmarkEncode(b *testing.B) {
	shapes := map[string]func(i int) float64{
		"w6-float64": func(i int) float64 { return w6Points(4096).Values[i] },
		"loss-float32": func(i int) float64 {
			return float64(float32(2*math.Exp(-float64(i)/2000) + 0.05*math.Sin(float64(i)*7.3)))
		},
		"gpu-int": func(i int) float64 { return float64(90 + i*7%11) },
	}
	for name, f := range shapes {
		p := w6Points(4096)
		for i := range p.Values {
			p.Values[i] = f(i)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
