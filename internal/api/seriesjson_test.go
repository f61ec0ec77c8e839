package api

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/history"
)

// TestWriteSeriesMatchesEncodingJSON: writeSeries writes the bytes
// encoding/json writes for the same series (whole, and with some columns
// left out), over numbers, non-finite values, strings with HTML
// characters, media JSON with spaces, empty and absent columns.
func TestWriteSeriesMatchesEncodingJSON(t *testing.T) {
	num := history.NumberValue
	series := []seriesJSON{
		{Run: "r1", Key: "loss", Total: 3, Sampled: true, Steps: []int64{0, 5, -7},
			Times:  []float64{1.7e9, 1.7e9 + 0.05, 1e-9},
			Values: valuesJSON{num(0.1), num(math.NaN()), num(math.Inf(-1))}},
		{Run: "r<2>", Key: `a&"b"`, Total: 2, Steps: []int64{1, 2}, Times: []float64{3, 4},
			Values: valuesJSON{{Kind: history.String, Text: "<b>x</b> \u2028"},
				{Kind: history.JSON, Text: `{ "_type": "image-file", "path": "a<b>.png" }`}},
			Xs: valuesJSON{num(1), num(2e21)}},
		{Run: "r3", Key: "empty", Steps: []int64{}, Times: []float64{}, Values: valuesJSON{}, Xs: valuesJSON{}},
		{Run: "r4", Key: "absent"},
		{Run: "r5", Key: "bools", Steps: []int64{1}, Times: []float64{2},
			Values: valuesJSON{{Kind: history.Bool, Num: 1}}},
	}
	type partial struct {
		Run     string `json:"run"`
		Key     string `json:"key"`
		Total   int64  `json:"total"`
		Sampled bool   `json:"sampled"`
		Steps   any    `json:"steps,omitempty"`
		Times   any    `json:"times,omitempty"`
		Values  any    `json:"values,omitempty"`
		Xs      any    `json:"xs,omitempty"`
	}
	for _, f := range []chartFields{{true, true, true}, {true, false, true}, {false, true, false}, {false, false, false}} {
		var want []byte
		var err error
		if f.steps && f.times && f.values {
			want, err = json.Marshal(map[string]any{"series": series})
		} else {
			ps := make([]partial, len(series))
			for i, s := range series {
				ps[i] = partial{Run: s.Run, Key: s.Key, Total: s.Total, Sampled: s.Sampled}
				if s.Xs != nil {
					ps[i].Xs = s.Xs
				}
				if f.steps {
					ps[i].Steps = s.Steps
				}
				if f.times {
					ps[i].Times = s.Times
				}
				if f.values {
					ps[i].Values = s.Values
				}
			}
			want, err = json.Marshal(map[string]any{"series": ps})
		}
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		writeSeries(rec, series, f)
		if got := rec.Body.String(); got != string(want)+"\n" {
			t.Errorf("fields %+v:\n got %s\nwant %s", f, got, want)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	}
}

// BenchmarkWriteSeries writes a W6 chart's answer: 100 runs × 1,200 points.
func BenchmarkWriteSeries(b *testing.B) {
	var out []seriesJSON
	for r := 0; r < 100; r++ {
		s := seriesJSON{Run: "r001", Key: "loss", Total: 1_000_000, Sampled: true}
		for i := 0; i < 1200; i++ {
			st := int64(i * 833)
			s.Steps = append(s.Steps, st)
			s.Times = append(s.Times, 1.7e9+float64(st)*0.05)
			s.Values = append(s.Values, history.NumberValue(math.Sin(float64(i))))
		}
		out = append(out, s)
	}
	for b.Loop() {
		writeSeries(httptest.NewRecorder(), out, chartFields{true, true, true})
	}
}
