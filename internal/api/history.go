package api

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/history/chunk"
	"github.com/fluoro-dev/fluoro/internal/ingest"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// chartWorkers is how many series one chart request reads at once: at
// least four (reads wait on SQLite as well as compute), more on machines
// with more cores, where decoding chunks of many runs scales with them.
var chartWorkers = max(4, runtime.GOMAXPROCS(0))

// Limits on one history query.
const (
	maxQueryRuns   = 200
	maxQueryKeys   = 100
	maxQueryPoints = 20000
)

// seriesJSON is one series, columnar: steps[i], times[i] and values[i]
// belong together. Non-finite numbers are the strings "NaN", "Infinity"
// and "-Infinity".
type seriesJSON struct {
	Run     string     `json:"run"`
	Key     string     `json:"key"`
	Total   int64      `json:"total"`   // points in range before downsampling
	Sampled bool       `json:"sampled"` // true when reduced to per-bucket extremes
	Steps   []int64    `json:"steps"`
	Times   []float64  `json:"times"`
	Values  valuesJSON `json:"values"`
	Xs      valuesJSON `json:"xs,omitempty"` // with x=KEY: that key's value at each step
}

// valuesJSON encodes a column of values in one call, numbers without
// reflection: the same bytes as encoding each history.Value, several times
// faster for a chart's 100k values (appendValues, which writeSeries uses).
type valuesJSON []history.Value

func (vs valuesJSON) MarshalJSON() ([]byte, error) {
	return appendValues(make([]byte, 0, 2+12*len(vs)), vs), nil
}

// appendFloat formats f as encoding/json does a float64.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func stepRange(r *http.Request) (history.Range, error) {
	rg := history.All
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"min_step", &rg.Min}, {"max_step", &rg.Max}} {
		if s := r.URL.Query().Get(p.name); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return rg, badData("%s=%q: want an integer step", p.name, s)
			}
			*p.dst = n
		}
	}
	if rg.Min > rg.Max {
		return rg, badData("min_step is above max_step")
	}
	return rg, nil
}

// boolParam reads an optional true/false query parameter.
func boolParam(r *http.Request, name string) (bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badData("%s=%q: want true or false", name, s)
	}
	return b, nil
}

// keysParam reads keys=a,b; keys may also be repeated (key=a&key=b) when a
// key contains a comma.
func keysParam(r *http.Request) []string {
	keys := splitList(r.URL.Query().Get("keys"))
	keys = append(keys, r.URL.Query()["key"]...)
	return keys
}

// steps lists the steps and times of one series, without its values.
func (a *API) steps(r *http.Request, run store.Run, key string, rg history.Range, info map[string]history.KeyInfo) (seriesJSON, error) {
	out := seriesJSON{Run: run.RunID, Key: key, Steps: []int64{}, Times: []float64{}, Values: valuesJSON{}}
	if _, ok := info[key]; !ok {
		return out, nil
	}
	add := func(step int64, t float64) error {
		out.Steps = append(out.Steps, step)
		out.Times = append(out.Times, t)
		out.Total++
		return nil
	}
	if ss, ok := a.d.Store.(history.StepScanner); ok {
		return out, ss.ScanSteps(r.Context(), run.PK, key, rg, add)
	}
	return out, a.d.Store.Scan(r.Context(), run.PK, key, rg, func(p history.Point) error { return add(p.Step, p.Time) })
}

// series reads one series, downsampled to points (0: every point).
func (a *API) series(r *http.Request, run store.Run, key string, rg history.Range, points int, info map[string]history.KeyInfo) (seriesJSON, error) {
	out := seriesJSON{Run: run.RunID, Key: key, Steps: []int64{}, Times: []float64{}, Values: valuesJSON{}}
	ki, ok := info[key]
	if !ok {
		return out, nil
	}
	lo, hi := max(rg.Min, ki.MinStep), min(rg.Max, ki.MaxStep)
	if lo > hi {
		return out, nil
	}
	add := func(p history.Point) {
		out.Steps = append(out.Steps, p.Step)
		out.Times = append(out.Times, p.Time)
		out.Values = append(out.Values, p.Value)
	}
	if points == 0 {
		err := a.d.Store.Scan(r.Context(), run.PK, key, history.Range{Min: lo, Max: hi}, func(p history.Point) error {
			add(p)
			out.Total++
			return nil
		})
		return out, err
	}
	if ch, ok := a.d.Store.(history.Charter); ok {
		c, err := ch.Chart(r.Context(), run.PK, key, history.Range{Min: lo, Max: hi}, points)
		if err != nil {
			return out, err
		}
		for _, p := range c.Points {
			add(p)
		}
		out.Total, out.Sampled = c.Total, c.Sampled
		return out, nil
	}
	ds := history.NewDownsampler(lo, hi, points)
	if err := a.d.Store.Scan(r.Context(), run.PK, key, history.Range{Min: lo, Max: hi}, func(p history.Point) error {
		ds.Add(p)
		return nil
	}); err != nil {
		return out, err
	}
	for _, p := range ds.Points() {
		add(p)
	}
	out.Total, out.Sampled = ds.Total(), ds.Sampled()
	return out, nil
}

// seriesAgainst is key's series joined by step with the numeric points of
// xKey (any logged metric as the x-axis, chosen after the fact): only steps
// where both have a point, downsampled by step like any chart (each bucket's
// first, last, min and max of key's values), with xKey's value at each
// returned step in Xs. Both series are read whole over the range: the cost
// is proportional to their points, not to the pixels.
func (a *API) seriesAgainst(r *http.Request, run store.Run, key, xKey string, rg history.Range, points int, info map[string]history.KeyInfo) (seriesJSON, error) {
	out := seriesJSON{Run: run.RunID, Key: key, Steps: []int64{}, Times: []float64{}, Values: valuesJSON{}, Xs: valuesJSON{}}
	ki, ok1 := info[key]
	xi, ok2 := info[xKey]
	if !ok1 || !ok2 {
		return out, nil
	}
	lo, hi := max(rg.Min, ki.MinStep, xi.MinStep), min(rg.Max, ki.MaxStep, xi.MaxStep)
	if lo > hi {
		return out, nil
	}
	in := history.Range{Min: lo, Max: hi}
	var xSteps []int64
	var xVals []float64
	if err := a.d.Store.Scan(r.Context(), run.PK, xKey, in, func(p history.Point) error {
		if p.Value.Kind == history.Number {
			xSteps = append(xSteps, p.Step)
			xVals = append(xVals, p.Value.Num)
		}
		return nil
	}); err != nil {
		return out, err
	}
	xAt := func(step int64) (float64, bool) {
		i, found := slices.BinarySearch(xSteps, step)
		if !found {
			return 0, false
		}
		return xVals[i], true
	}
	var ds *history.Downsampler
	if points > 0 {
		ds = history.NewDownsampler(lo, hi, points)
	}
	add := func(p history.Point, x float64) {
		out.Steps = append(out.Steps, p.Step)
		out.Times = append(out.Times, p.Time)
		out.Values = append(out.Values, p.Value)
		out.Xs = append(out.Xs, history.Value{Kind: history.Number, Num: x})
	}
	if err := a.d.Store.Scan(r.Context(), run.PK, key, in, func(p history.Point) error {
		x, ok := xAt(p.Step)
		if !ok {
			return nil
		}
		if ds != nil {
			ds.Add(p)
		} else {
			add(p, x)
			out.Total++
		}
		return nil
	}); err != nil {
		return out, err
	}
	if ds != nil {
		for _, p := range ds.Points() {
			x, _ := xAt(p.Step)
			add(p, x)
		}
		out.Total, out.Sampled = ds.Total(), ds.Sampled()
	}
	return out, nil
}

// keyInfo describes the keys of a run: those named (all when none are),
// looked up one by one when the store can, so that a chart of one key of
// a run with 100k keys does not list them all.
func keyInfo(r *http.Request, st history.Reader, runPK int64, keys []string) (map[string]history.KeyInfo, error) {
	var ks []history.KeyInfo
	var err error
	if kf, ok := st.(history.KeyFinder); ok && len(keys) > 0 {
		ks, err = kf.FindRunKeys(r.Context(), runPK, keys)
	} else {
		ks, err = st.RunKeys(r.Context(), runPK)
	}
	if err != nil {
		return nil, err
	}
	m := make(map[string]history.KeyInfo, len(ks))
	for _, k := range ks {
		m[k.Key] = k
	}
	return m, nil
}

// projectHistory answers a chart: several keys of several runs, each
// downsampled to at most about `points` points.
func (a *API) projectHistory(w http.ResponseWriter, r *http.Request) error {
	p, err := a.project(r)
	if err != nil {
		return err
	}
	runIDs := splitList(r.URL.Query().Get("runs"))
	keys := keysParam(r)
	if len(runIDs) == 0 || len(keys) == 0 {
		return badData("runs and keys are required, e.g. ?runs=a1b2c3d4,e5f6g7h8&keys=train/loss")
	}
	if len(runIDs) > maxQueryRuns || len(keys) > maxQueryKeys {
		return badData("at most %d runs and %d keys per query", maxQueryRuns, maxQueryKeys)
	}
	points, err := intParam(r, "points", 1000, 4, maxQueryPoints)
	if err != nil {
		return err
	}
	rg, err := stepRange(r)
	if err != nil {
		return err
	}
	fields, err := fieldsParam(r)
	if err != nil {
		return err
	}
	xKey := r.URL.Query().Get("x")
	if xKey != "" {
		if err := ingest.CheckKey(xKey); err != nil {
			return badData("x=%q: %v", xKey, err)
		}
	}
	runs := make([]store.Run, len(runIDs))
	for i, id := range runIDs {
		run, err := a.d.Store.Run(r.Context(), store.RunKey{Entity: p.Entity, Project: p.Name, RunID: id})
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, CodeNotFound, "run %s/%s/%s not found", p.Entity, p.Name, id)
		}
		if err != nil {
			return err
		}
		runs[i] = run
	}
	// Series are independent reads: a few at a time, results in request order.
	out := make([]seriesJSON, len(runs)*len(keys))
	errs := make([]error, len(runs))
	sem := make(chan struct{}, chartWorkers)
	var wg sync.WaitGroup
	for i, run := range runs {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, run store.Run) {
			defer func() { <-sem; wg.Done() }()
			want := keys
			if xKey != "" {
				want = append(slices.Clip(keys), xKey)
			}
			info, err := keyInfo(r, a.d.Store, run.PK, want)
			if err != nil {
				errs[i] = err
				return
			}
			for j, k := range keys {
				if xKey != "" {
					out[i*len(keys)+j], err = a.seriesAgainst(r, run, k, xKey, rg, points, info)
				} else {
					out[i*len(keys)+j], err = a.series(r, run, k, rg, points, info)
				}
				if err != nil {
					errs[i] = err
					return
				}
			}
		}(i, run)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	writeSeries(w, out, fields)
	return nil
}

// chartFields are the columns a chart asks for with fields=steps,values
// (a chart against steps needs no times: a third of the response).
type chartFields struct{ steps, times, values bool }

func fieldsParam(r *http.Request) (chartFields, error) {
	s := r.URL.Query().Get("fields")
	if s == "" {
		return chartFields{true, true, true}, nil
	}
	var f chartFields
	for _, name := range splitList(s) {
		switch name {
		case "steps":
			f.steps = true
		case "times":
			f.times = true
		case "values":
			f.values = true
		default:
			return f, badData("fields=%q: want a comma-separated list of steps, times and values", s)
		}
	}
	return f, nil
}

// runHistory returns keys of one run: downsampled when points is given,
// otherwise every point; format=ndjson streams rows for export.
func (a *API) runHistory(w http.ResponseWriter, r *http.Request) error {
	run, err := a.run(r)
	if err != nil {
		return err
	}
	keys := keysParam(r)
	info, err := keyInfo(r, a.d.Store, run.PK, keys)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		for k := range info {
			keys = append(keys, k)
		}
		slices.Sort(keys) // the same answer twice, not map order
	}
	if len(keys) > maxQueryKeys && r.URL.Query().Get("format") != "ndjson" {
		return badData("at most %d keys per query; use format=ndjson to export more", maxQueryKeys)
	}
	points, err := intParam(r, "points", 0, 0, maxQueryPoints)
	if err != nil {
		return err
	}
	if points > 0 && points < 4 {
		return badData("points must be 0 (every point) or at least 4")
	}
	rg, err := stepRange(r)
	if err != nil {
		return err
	}
	switch r.URL.Query().Get("format") {
	case "ndjson":
		return a.exportNDJSON(w, r, run, keys, rg, info)
	case "binary":
		if len(keys) != 1 {
			return badData("format=binary exports one key at a time: pass exactly one key")
		}
		return a.exportBinary(w, r, run, keys[0], rg)
	case "", "json":
	default:
		return badData("format=%q: use json, ndjson or binary", r.URL.Query().Get("format"))
	}
	stepsOnly, err := boolParam(r, "steps_only")
	if err != nil {
		return err
	}
	if stepsOnly && points > 0 {
		return badData("steps_only lists every step in range: leave out points")
	}
	out := []seriesJSON{}
	for _, k := range keys {
		var s seriesJSON
		if stepsOnly {
			s, err = a.steps(r, run, k, rg, info)
		} else {
			s, err = a.series(r, run, k, rg, points, info)
		}
		if err != nil {
			return err
		}
		out = append(out, s)
	}
	writeSeries(w, out, chartFields{true, true, true})
	return nil
}

// exportNDJSON streams one JSON line per point: {"key","step","time","value"}.
func (a *API) exportNDJSON(w http.ResponseWriter, r *http.Request, run store.Run, keys []string, rg history.Range, info map[string]history.KeyInfo) error {
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriterSize(w, 64<<10)
	type line struct {
		Key   string        `json:"key"`
		Step  int64         `json:"step"`
		Time  float64       `json:"time"`
		Value history.Value `json:"value"`
	}
	enc := json.NewEncoder(bw)
	for _, k := range keys {
		if _, ok := info[k]; !ok {
			continue
		}
		err := a.d.Store.Scan(r.Context(), run.PK, k, rg, func(p history.Point) error {
			return enc.Encode(line{Key: k, Step: p.Step, Time: p.Time, Value: p.Value})
		})
		if err != nil {
			// Headers are gone; the truncated stream tells the client.
			a.d.Log.Error("export history", "run", run.RunKey.String(), "err", err)
			return nil
		}
	}
	return bw.Flush()
}

// BinaryContentType labels the binary series export: frames of
// (uint32 n, n int64 steps, n float64 times, n float64 values), little
// endian, ending with a frame of n = 0. Numeric points only.
const BinaryContentType = "application/vnd.fluoro.series"

func (a *API) exportBinary(w http.ResponseWriter, r *http.Request, run store.Run, key string, rg history.Range) error {
	cs, ok := a.d.Store.(history.ColumnScanner)
	if !ok {
		return errorf(http.StatusNotImplemented, CodeInternal, "this store cannot export binary series")
	}
	w.Header().Set("Content-Type", BinaryContentType)
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	err := cs.ScanColumns(r.Context(), run.PK, key, rg, func(p chunk.Points) error {
		buf = binary.LittleEndian.AppendUint32(buf[:0], uint32(p.Len()))
		for _, s := range p.Steps {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(s))
		}
		for _, t := range p.Times {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(t))
		}
		for _, v := range p.Values {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		}
		_, err := bw.Write(buf)
		return err
	})
	if err != nil {
		// Headers are gone; without the final empty frame the client sees
		// a truncated stream.
		a.d.Log.Error("export history", "run", run.RunKey.String(), "err", err)
		return nil
	}
	_, _ = bw.Write([]byte{0, 0, 0, 0})
	return bw.Flush()
}

type keyJSON struct {
	Key     string `json:"key"`
	Points  int64  `json:"points"`
	MinStep int64  `json:"min_step"`
	MaxStep int64  `json:"max_step"`
	Type    string `json:"type"` // number, string, bool, json or a media "_type"
}

func (a *API) runKeys(w http.ResponseWriter, r *http.Request) error {
	run, err := a.run(r)
	if err != nil {
		return err
	}
	ks, err := a.d.Store.RunKeys(r.Context(), run.PK)
	if err != nil {
		return err
	}
	out := make([]keyJSON, 0, len(ks))
	for _, k := range ks {
		out = append(out, keyJSON(k))
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
	return nil
}

func (a *API) projectKeys(w http.ResponseWriter, r *http.Request) error {
	p, err := a.project(r)
	if err != nil {
		return err
	}
	ks, err := a.d.Store.ProjectKeys(r.Context(), p.ID)
	if err != nil {
		return err
	}
	// Names as before, plus the types of the keys that are not numbers:
	// most keys are, and the UI charts those by default.
	types := map[string]string{}
	for _, k := range ks {
		if k.Type != history.TypeNumber && k.Type != "" {
			types[k.Key] = k.Type
		}
	}
	tj, err := json.Marshal(types)
	if err != nil {
		return err
	}
	// A million names: written as they are encoded, and without
	// encoding/json's reflection per name (the same bytes).
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := []byte(`{"keys":[`)
	for i, k := range ks {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, k.Key)
		if len(buf) >= 32<<10 {
			if _, err := bw.Write(buf); err != nil {
				return nil // the client went away
			}
			buf = buf[:0]
		}
	}
	buf = append(buf, `],"types":`...)
	buf = append(buf, tj...)
	buf = append(buf, "}\n"...)
	_, _ = bw.Write(buf)
	_ = bw.Flush()
	return nil
}

// appendJSONString appends s as encoding/json writes a string: plain
// printable ASCII as is, anything else through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
