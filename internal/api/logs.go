package api

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

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
	if f := r.URL.Query().Get("format"); f == "text" {
		return a.consoleText(w, r, run, after)
	} else if f != "" && f != "json" {
		return badData("format=%q: want json (default) or text", f)
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

// consoleText streams every line after `after` as a plain-text download
// (stderr lines marked), page by page so a long log never sits in memory.
func (a *API) consoleText(w http.ResponseWriter, r *http.Request, run store.Run, after int64) error {
	const page = 10000
	first := true
	for {
		lines, err := a.d.Store.ConsoleLines(r.Context(), run.PK, after, page)
		if err != nil {
			if first {
				return err
			}
			return nil // headers are out: the cut-short download is all we can say
		}
		if first {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": run.RunID + "-console.txt"}))
			w.Header().Set("X-Content-Type-Options", "nosniff")
			first = false
		}
		var b strings.Builder
		for _, l := range lines {
			if l.Stream == "stderr" {
				b.WriteString("[stderr] ")
			}
			b.WriteString(l.Line)
			b.WriteByte('\n')
		}
		if _, err := io.WriteString(w, b.String()); err != nil {
			return nil
		}
		if len(lines) < page {
			return nil
		}
		after = lines[len(lines)-1].Offset
	}
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

func (a *API) listAlerts(w http.ResponseWriter, r *http.Request) error {
	run, err := a.run(r)
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	alerts, err := a.d.Store.Alerts(r.Context(), run.PK, limit)
	if err != nil {
		return err
	}
	type alertJSON struct {
		ID         int64   `json:"id"`
		Time       float64 `json:"time"`
		Title      string  `json:"title"`
		Text       string  `json:"text"`
		Level      string  `json:"level"`
		WaitMS     int64   `json:"wait_ms"`
		Suppressed bool    `json:"suppressed"`
	}
	out := make([]alertJSON, len(alerts))
	for i, al := range alerts {
		out[i] = alertJSON(al)
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": out})
	return nil
}
