package api

import (
	"net/http"
	"strconv"

	"github.com/fluoro-dev/fluoro/internal/store"
)

func (a *API) console(w http.ResponseWriter, r *http.Request) error {
	run, err := a.run(r)
	if err != nil {
		return err
	}
	var after int64
	if s := r.URL.Query().Get("after"); s != "" {
		if after, err = strconv.ParseInt(s, 10, 64); err != nil || after < 0 {
			return badData("after=%q: want the offset of the last line you have", s)
		}
	}
	limit, err := intParam(r, "limit", 1000, 1, 10000)
	if err != nil {
		return err
	}
	lines, err := a.d.Store.ConsoleLines(r.Context(), run.PK, after, limit)
	if err != nil {
		return err
	}
	next := after
	if len(lines) > 0 {
		next = lines[len(lines)-1].Offset
	}
	type lineJSON struct {
		Offset int64   `json:"offset"`
		Time   float64 `json:"time"`
		Stream string  `json:"stream"`
		Line   string  `json:"line"`
	}
	out := make([]lineJSON, len(lines))
	for i, l := range lines {
		out[i] = lineJSON(l)
	}
	writeJSON(w, http.StatusOK, map[string]any{"lines": out, "next": next})
	return nil
}

func (a *API) system(w http.ResponseWriter, r *http.Request) error {
	run, err := a.run(r)
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 10000, 1, 100000)
	if err != nil {
		return err
	}
	samples, err := a.d.Store.SystemSamples(r.Context(), run.PK, limit)
	if err != nil {
		return err
	}
	if samples == nil {
		samples = []store.SystemSample{}
	}
	type sampleJSON struct {
		Time   float64            `json:"time"`
		Values map[string]float64 `json:"values"`
	}
	out := make([]sampleJSON, len(samples))
	for i, s := range samples {
		out[i] = sampleJSON(s)
	}
	writeJSON(w, http.StatusOK, map[string]any{"samples": out})
	return nil
}
