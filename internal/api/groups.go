package api

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/fluoro-dev/fluoro/internal/query"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// maxGroupedRuns bounds the runs one run-groups answer walks: past it the
// answer says it was cut (a runs table grouped over more is not read).
const maxGroupedRuns = 100_000

// groupPage is the store page run-groups reads at a time: 10k runs (5
// config keys) took 0.37-0.44 s in pages of 1000 (each page sorts and skips
// again) and 0.18-0.25 s in pages of 5000, whose decoded runs stay small.
const groupPage = 5000

// runGroupFields are the run fields besides config.<path> a table can group by.
var runGroupFields = map[string]bool{"group": true, "job_type": true, "state": true, "user": true, "tags": true}

type runGroupJSON struct {
	Label string   `json:"label"`
	Runs  []string `json:"runs"`
}

// runGroups answers the runs table grouped by a field: every matching run's
// id under its group's label, groups in the order of their first run in the
// sort's order, so a browser need not load every run to count the groups.
// Labels are the ones the web UI shows (web/src/group.ts, groupValue).
func (a *API) runGroups(w http.ResponseWriter, r *http.Request) error {
	p, err := a.project(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	by := q.Get("by")
	if !runGroupFields[by] && (!strings.HasPrefix(by, "config.") || len(by) == len("config.")) {
		return badData("by=%q: want config.<path>, group, job_type, state, user or tags", by)
	}
	filter, err := query.Parse(q.Get("filter"))
	if err != nil {
		return badData("%s", err)
	}
	order, err := query.ParseSort(q.Get("sort"))
	if err != nil {
		return badData("%s", err)
	}
	list := func(offset, limit int) (store.RunPage, error) {
		return a.d.Store.ListRuns(r.Context(), store.RunQuery{ProjectPK: p.ID, Filter: filter, Sort: order, Limit: limit, Offset: offset})
	}
	groups, total, truncated, err := groupRuns(list, func(run store.Run) string { return a.groupLabel(r, run, by) }, groupPage, maxGroupedRuns)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"by": by, "total": total, "groups": groups, "truncated": truncated})
	return nil
}

// groupRuns reads the runs a page at a time (list) and puts each run's id
// under its label, groups in the order of their first run; at most max runs
// (then truncated). total is the number of matching runs.
func groupRuns(list func(offset, limit int) (store.RunPage, error), label func(store.Run) string, page, max int) ([]*runGroupJSON, int, bool, error) {
	groups := []*runGroupJSON{}
	index := map[string]*runGroupJSON{}
	total, seen := 0, 0
	for {
		res, err := list(seen, min(page, max-seen))
		if err != nil {
			return nil, 0, false, err
		}
		total = int(res.Total)
		for _, run := range res.Runs {
			l := label(run)
			g := index[l]
			if g == nil {
				g = &runGroupJSON{Label: l}
				index[l] = g
				groups = append(groups, g)
			}
			g.Runs = append(g.Runs, run.RunID)
		}
		seen += len(res.Runs)
		if len(res.Runs) == 0 || seen >= total {
			return groups, total, false, nil
		}
		if seen >= max {
			return groups, total, true, nil
		}
	}
}

// groupLabel is a run's value of the field, as the web UI labels it: "(none)"
// when missing or empty, a string as it is, a number as JavaScript prints
// it, anything else as JSON.stringify would.
func (a *API) groupLabel(r *http.Request, run store.Run, by string) string {
	var v any
	switch by {
	case "group":
		v = run.Group
	case "job_type":
		v = run.JobType
	case "state":
		v = run.State
	case "user":
		v = a.userName(r.Context(), run.UserID)
	case "tags":
		v = strings.Join(slices.Sorted(slices.Values(run.Tags)), ", ")
	default:
		v = flatConfig(run.Config)[strings.TrimPrefix(by, "config.")]
	}
	return jsLabel(v)
}

// flatConfig flattens a config as the web UI does (format.ts, flatten):
// nested objects by dotted path, an array or an object with _type a leaf.
func flatConfig(cfg map[string]any) map[string]any {
	out := map[string]any{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		// in the order the API sends them: a later path wins, as in the browser
		for _, k := range slices.Sorted(maps.Keys(m)) {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			if sub, ok := m[k].(map[string]any); ok {
				if _, typed := sub["_type"]; !typed {
					walk(key, sub)
					continue
				}
			}
			out[key] = m[k]
		}
	}
	walk("", cfg)
	return out
}

func jsLabel(v any) string {
	switch x := v.(type) {
	case nil:
		return "(none)"
	case string:
		if x == "" {
			return "(none)"
		}
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return jsNumber(x)
	default:
		var b bytes.Buffer
		writeJS(&b, v)
		return b.String()
	}
}

// jsNumber formats f as JavaScript's Number.prototype.toString does: the
// shortest digits that round-trip, fixed notation from 1e-7 up to 1e21,
// exponential (1e-7, 1.5e+21) outside.
func jsNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	case f < 0:
		return "-" + jsNumber(-f)
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1 // value = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		return digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return "0." + strings.Repeat("0", -n) + digits
	}
	sign := "+"
	if n-1 < 0 {
		sign = "-"
	}
	out := digits[:1]
	if k > 1 {
		out += "." + digits[1:]
	}
	return out + "e" + sign + strconv.Itoa(abs(n-1))
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// writeJS writes v as JSON.stringify would (keys in the order the API sends
// them, numbers as JavaScript prints them).
func writeJS(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		b.WriteByte('{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSString(b, k)
			b.WriteByte(':')
			writeJS(b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJS(b, e)
		}
		b.WriteByte(']')
	case string:
		writeJSString(b, x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b.WriteString("null")
		} else {
			b.WriteString(jsNumber(x))
		}
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	default:
		raw, err := json.Marshal(x)
		if err != nil {
			b.WriteString("null")
			return
		}
		b.Write(raw)
	}
}

func writeJSString(b *bytes.Buffer, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // JSON.stringify leaves <, > and & alone
	if err := enc.Encode(s); err != nil {
		b.WriteString(`""`)
		return
	}
	b.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}
