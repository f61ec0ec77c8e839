package api

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/fluoro-dev/fluoro/internal/history"
)

// writeSeries writes {"series": out} with the columns f names, byte for
// byte as encoding/json writes it, without reflection or re-scanning: a
// chart of 100 runs is 120k points (about 5 MB of JSON), which encoding/json
// takes longer to write than the chart takes to compute.
func writeSeries(w http.ResponseWriter, out []seriesJSON, f chartFields) {
	// Each series is written into its own buffer, several at a time when
	// they are large (formatting floats is most of the cost), then joined.
	parts := make([][]byte, len(out))
	points := 0
	for _, s := range out {
		points += len(s.Steps) + len(s.Values)
	}
	workers := 1
	if points > 20_000 {
		workers = min(runtime.GOMAXPROCS(0), len(out))
	}
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(out); i = int(next.Add(1) - 1) {
				parts[i] = appendSeries(nil, &out[i], f)
			}
		}()
	}
	wg.Wait()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if out == nil {
		_, _ = w.Write([]byte(`{"series":null}` + "\n"))
		return
	}
	_, _ = w.Write([]byte(`{"series":[`))
	for i, p := range parts {
		if i > 0 {
			_, _ = w.Write([]byte{','})
		}
		_, _ = w.Write(p)
	}
	_, _ = w.Write([]byte("]}\n"))
}

// appendSeries appends one series object with the columns f names.
func appendSeries(b []byte, s *seriesJSON, f chartFields) []byte {
	if b == nil {
		b = make([]byte, 0, 96+len(s.Run)+len(s.Key)+12*len(s.Steps)+14*len(s.Times)+12*len(s.Values)+12*len(s.Xs))
	}
	b = append(b, `{"run":`...)
	b = appendJSONString(b, s.Run)
	b = append(b, `,"key":`...)
	b = appendJSONString(b, s.Key)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, s.Total, 10)
	b = append(b, `,"sampled":`...)
	b = strconv.AppendBool(b, s.Sampled)
	if f.steps {
		b = append(b, `,"steps":`...)
		b = appendInts(b, s.Steps)
	}
	if f.times {
		b = append(b, `,"times":`...)
		b = appendFloats(b, s.Times)
	}
	if f.values {
		b = append(b, `,"values":`...)
		b = appendValues(b, s.Values)
	}
	// The whole series leaves out an empty xs; a partial one, as the
	// columns encoding/json wrote before, only an absent one.
	all := f.steps && f.times && f.values
	if (all && len(s.Xs) > 0) || (!all && s.Xs != nil) {
		b = append(b, `,"xs":`...)
		b = appendValues(b, s.Xs)
	}
	return append(b, '}')
}

func appendInts(b []byte, vs []int64) []byte {
	if vs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return append(b, ']')
}

// appendFloats writes wall times; one that is not finite (encoding/json
// would fail the whole response) is null.
func appendFloats(b []byte, vs []float64) []byte {
	if vs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
			continue
		}
		b = appendFloat(b, v)
	}
	return append(b, ']')
}

// appendValues writes vs as valuesJSON marshals them, the non-numbers
// compacted and HTML-escaped as encoding/json treats a Marshaler's output.
func appendValues(b []byte, vs []history.Value) []byte {
	b = append(b, '[')
	var tmp, esc bytes.Buffer
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		if v.Kind == history.Number && !math.IsNaN(v.Num) && !math.IsInf(v.Num, 0) {
			b = appendFloat(b, v.Num)
			continue
		}
		enc, err := v.MarshalJSON()
		tmp.Reset()
		if err != nil || json.Compact(&tmp, enc) != nil {
			b = append(b, "null"...) // stored JSON that does not parse
			continue
		}
		esc.Reset()
		json.HTMLEscape(&esc, tmp.Bytes())
		b = append(b, esc.Bytes()...)
	}
	return append(b, ']')
}
