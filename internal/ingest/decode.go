package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// Limits on what one batch may hold. A record over a limit is rejected on
// its own; the rest of the batch is kept.
const (
	MaxDepth        = 64      // JSON nesting anywhere in a batch
	MaxKeysPerRow   = 10000   // keys in one history row, after flattening nested objects
	MaxKeyLen       = 512     // bytes in a metric key
	MaxStringValue  = 1 << 16 // bytes in a string value
	MaxJSONValue    = 1 << 20 // bytes in an object or array value (media, histograms)
	MaxWriterLen    = 128
	MaxConsoleLine  = 1 << 16
	MaxAlertTitle   = 256     // characters
	MaxAlertText    = 1 << 16 // bytes
	MaxAlertWaitMS  = 366 * 24 * 3600 * 1000
	MaxStep         = 1 << 53 // steps are exact in a float64
	maxFlattenDepth = 16
)

// Sentinels that stand in for JSON's missing non-finite literals while the
// batch goes through encoding/json. They cannot collide with a real string
// in practice: they start and end with NUL.
const (
	nanSentinel    = "\x00fluoro:NaN\x00"
	posInfSentinel = "\x00fluoro:+Inf\x00"
	negInfSentinel = "\x00fluoro:-Inf\x00"

	// The sentinels as JSON string literals.
	nanJSON    = `"\u0000fluoro:NaN\u0000"`
	posInfJSON = `"\u0000fluoro:+Inf\u0000"`
	negInfJSON = `"\u0000fluoro:-Inf\u0000"`
)

// ErrBadBatch marks a batch that cannot be applied at all.
var ErrBadBatch = errors.New("bad batch")

// Wire is the JSON shape of an ingest batch, as the SDK sends it and as it
// is written to the SDK's spool (docs/api.md describes it).
type Wire struct {
	Entity  string          `json:"entity"`
	Project string          `json:"project"`
	RunID   string          `json:"run_id"`
	Writer  string          `json:"writer"`
	Seq     *int64          `json:"seq"`
	Logged  int64           `json:"logged"`  // points the writer had logged through this batch, counted from its first; 0: not counted
	History []WireRow       `json:"history"` // decoded by streaming, see stream.go
	Summary map[string]any  `json:"summary"`
	Console []WireConsole   `json:"console"`
	System  []WireSystemRow `json:"system"`
	Alerts  []WireAlert     `json:"alerts"`
}

// WireAlert is one alert a run raised (the SDK's alert()).
type WireAlert struct {
	Time   float64 `json:"time"`
	Title  string  `json:"title"`
	Text   string  `json:"text"`
	Level  string  `json:"level"`   // INFO (default), WARN or ERROR
	WaitMS int64   `json:"wait_ms"` // least time between two delivered alerts of this title
}

// WireRow is one history row.
type WireRow struct {
	Step   *float64       `json:"step"`
	Time   *float64       `json:"time"`
	Values map[string]any `json:"values"`
}

// WireConsole is one console line.
type WireConsole struct {
	Time   float64 `json:"time"`
	Stream string  `json:"stream"`
	Line   string  `json:"line"`
}

// WireSystemRow is one system-metrics sample.
type WireSystemRow struct {
	Time   float64        `json:"time"`
	Values map[string]any `json:"values"`
}

// Rejection explains why one record of a batch was not applied.
type Rejection struct {
	Record string `json:"record"` // e.g. "history[3]"
	Error  string `json:"error"`
}

// Decoded is a validated batch ready to apply, with the records that were
// rejected on their own.
type Decoded struct {
	Key      store.RunKey
	Batch    store.Batch // RunPK and ProjectPK are filled in by the caller
	Rejected []Rejection
	Records  int // records in the request, accepted or not
}

// sanitize checks UTF-8 and nesting depth and rewrites the bare tokens NaN,
// Infinity and -Infinity (as Python's json module writes them) outside
// strings into sentinel strings that encoding/json accepts.
func sanitize(body []byte) ([]byte, error) {
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("%w: body is not valid UTF-8", ErrBadBatch)
	}
	var out []byte // allocated only if a rewrite is needed
	depth, last := 0, 0
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '"':
			// skip the string, honouring escapes
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			if depth > MaxDepth {
				return nil, fmt.Errorf("%w: JSON nested deeper than %d levels", ErrBadBatch, MaxDepth)
			}
		case '}', ']':
			depth--
		case 'N', 'I', '-':
			var tok, rep string
			switch {
			case bytes.HasPrefix(body[i:], []byte("NaN")):
				tok, rep = "NaN", nanJSON
			case bytes.HasPrefix(body[i:], []byte("Infinity")):
				tok, rep = "Infinity", posInfJSON
			case bytes.HasPrefix(body[i:], []byte("-Infinity")):
				tok, rep = "-Infinity", negInfJSON
			default:
				continue
			}
			out = append(out, body[last:i]...)
			out = append(out, rep...)
			i += len(tok) - 1
			last = i + 1
		}
	}
	if out == nil {
		return body, nil
	}
	return append(out, body[last:]...), nil
}

// Decode parses and validates one batch. A batch-level problem returns an
// error wrapping ErrBadBatch; record-level problems are listed in Rejected.
func Decode(body []byte) (*Decoded, error) {
	clean, err := sanitize(body)
	if err != nil {
		return nil, err
	}
	w, rows, err := decodeStream(clean)
	if err != nil {
		return nil, err
	}
	if w.Entity == "" || w.Project == "" || w.RunID == "" {
		return nil, fmt.Errorf("%w: entity, project and run_id are required", ErrBadBatch)
	}
	if w.Writer == "" || len(w.Writer) > MaxWriterLen {
		return nil, fmt.Errorf("%w: writer is required (1-%d bytes): a stable id for the process sending batches", ErrBadBatch, MaxWriterLen)
	}
	if w.Seq == nil || *w.Seq < 0 {
		return nil, fmt.Errorf("%w: seq is required: a non-negative integer, increasing per writer", ErrBadBatch)
	}
	d := &Decoded{
		Key:   store.RunKey{Entity: w.Entity, Project: w.Project, RunID: w.RunID},
		Batch: store.Batch{Writer: w.Writer, Seq: *w.Seq, Logged: w.Logged},
	}
	d.Records = len(rows) + len(w.Console) + len(w.System) + len(w.Alerts)
	for i, r := range rows {
		if r.err != nil {
			d.Rejected = append(d.Rejected, Rejection{Record: fmt.Sprintf("history[%d]", i), Error: r.err.Error()})
			continue
		}
		d.Batch.History = append(d.Batch.History, r.row)
	}
	if len(w.Summary) > 0 {
		d.Records++
		if s, err := decodeSummary(w.Summary); err != nil {
			d.Rejected = append(d.Rejected, Rejection{Record: "summary", Error: err.Error()})
		} else {
			d.Batch.Summary = s
		}
	}
	for i, c := range w.Console {
		if err := checkConsole(&c); err != nil {
			d.Rejected = append(d.Rejected, Rejection{Record: fmt.Sprintf("console[%d]", i), Error: err.Error()})
			continue
		}
		d.Batch.Console = append(d.Batch.Console, store.ConsoleLine{Time: c.Time, Stream: c.Stream, Line: c.Line})
	}
	for i, s := range w.System {
		sample, err := decodeSystem(s)
		if err != nil {
			d.Rejected = append(d.Rejected, Rejection{Record: fmt.Sprintf("system[%d]", i), Error: err.Error()})
			continue
		}
		d.Batch.System = append(d.Batch.System, sample)
	}
	for i, a := range w.Alerts {
		alert, err := decodeAlert(a)
		if err != nil {
			d.Rejected = append(d.Rejected, Rejection{Record: fmt.Sprintf("alerts[%d]", i), Error: err.Error()})
			continue
		}
		d.Batch.Alerts = append(d.Batch.Alerts, alert)
	}
	return d, nil
}

// CheckKey validates a metric key.
func CheckKey(k string) error {
	if k == "" {
		return errors.New("empty key")
	}
	if len(k) > MaxKeyLen {
		return fmt.Errorf("key %.40q… is %d bytes; at most %d", k, len(k), MaxKeyLen)
	}
	for i := 0; i < len(k); i++ { // control characters are single bytes in UTF-8
		if c := k[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("key %q has a control character", k)
		}
	}
	return nil
}

func special(s string) (float64, bool) {
	switch s {
	case nanSentinel:
		return math.NaN(), true
	case posInfSentinel:
		return math.Inf(1), true
	case negInfSentinel:
		return math.Inf(-1), true
	}
	return 0, false
}

// flatten turns nested plain objects into dotted keys, as wandb shows them;
// objects with a "_type" (media, histograms) stay whole values.
func flatten(prefix string, m map[string]any, depth int, out *[]history.Field) error {
	if depth > maxFlattenDepth {
		return fmt.Errorf("nested objects deeper than %d under %q", maxFlattenDepth, prefix)
	}
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if err := CheckKey(key); err != nil {
			return err
		}
		if len(*out) > MaxKeysPerRow {
			return fmt.Errorf("row has more than %d keys; at most %d per row", MaxKeysPerRow, MaxKeysPerRow)
		}
		if obj, ok := v.(map[string]any); ok {
			if _, media := obj["_type"]; !media {
				if err := flatten(key, obj, depth+1, out); err != nil {
					return err
				}
				continue
			}
		}
		val, skip, err := toValue(v)
		if err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		if !skip {
			*out = append(*out, history.Field{Key: key, Value: val})
		}
	}
	return nil
}

// toValue converts a decoded JSON value; null is skipped.
func toValue(v any) (history.Value, bool, error) {
	switch v := v.(type) {
	case nil:
		return history.Value{}, true, nil
	case float64:
		return history.NumberValue(v), false, nil
	case bool:
		b := 0.0
		if v {
			b = 1
		}
		return history.Value{Kind: history.Bool, Num: b}, false, nil
	case string:
		if f, ok := special(v); ok {
			return history.NumberValue(f), false, nil
		}
		if len(v) > MaxStringValue {
			return history.Value{}, false, fmt.Errorf("string of %d bytes; at most %d (log large text as a file)", len(v), MaxStringValue)
		}
		return history.Value{Kind: history.String, Text: v}, false, nil
	default: // objects with _type, arrays
		b, err := json.Marshal(restoreSpecials(v))
		if err != nil {
			return history.Value{}, false, fmt.Errorf("encode value: %w", err)
		}
		if len(b) > MaxJSONValue {
			return history.Value{}, false, fmt.Errorf("value of %d bytes; at most %d", len(b), MaxJSONValue)
		}
		return history.Value{Kind: history.JSON, Text: string(b)}, false, nil
	}
}

// restoreSpecials turns sentinels inside nested values back into the
// strings "NaN", "Infinity" and "-Infinity", which is how stored JSON
// values spell them.
func restoreSpecials(v any) any {
	switch v := v.(type) {
	case string:
		switch v {
		case nanSentinel:
			return "NaN"
		case posInfSentinel:
			return "Infinity"
		case negInfSentinel:
			return "-Infinity"
		}
		return v
	case map[string]any:
		for k, x := range v {
			v[k] = restoreSpecials(x)
		}
		return v
	case []any:
		for i, x := range v {
			v[i] = restoreSpecials(x)
		}
		return v
	}
	return v
}

func decodeSummary(m map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if err := CheckKey(k); err != nil {
			return nil, err
		}
		out[k] = restoreSpecials(v)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode summary: %w", err)
	}
	if len(b) > MaxJSONValue {
		return nil, fmt.Errorf("summary update of %d bytes; at most %d", len(b), MaxJSONValue)
	}
	return out, nil
}

func checkConsole(c *WireConsole) error {
	if c.Stream == "" {
		c.Stream = "stdout"
	}
	if c.Stream != "stdout" && c.Stream != "stderr" {
		return fmt.Errorf("stream %q must be stdout or stderr", c.Stream)
	}
	if len(c.Line) > MaxConsoleLine {
		return fmt.Errorf("line of %d bytes; at most %d", len(c.Line), MaxConsoleLine)
	}
	if math.IsNaN(c.Time) || math.IsInf(c.Time, 0) || c.Time < 0 {
		return errors.New("time must be a finite, non-negative unix time in seconds")
	}
	return nil
}

func decodeAlert(a WireAlert) (store.Alert, error) {
	out := store.Alert{Time: a.Time, Title: a.Title, Text: a.Text, Level: strings.ToUpper(a.Level), WaitMS: a.WaitMS}
	if out.Level == "" {
		out.Level = store.AlertInfo
	}
	switch {
	case strings.TrimSpace(a.Title) == "":
		return out, errors.New("title is empty: an alert needs a title")
	case utf8.RuneCountInString(a.Title) > MaxAlertTitle:
		return out, fmt.Errorf("title of %d characters; at most %d", utf8.RuneCountInString(a.Title), MaxAlertTitle)
	case len(a.Text) > MaxAlertText:
		return out, fmt.Errorf("text of %d bytes; at most %d", len(a.Text), MaxAlertText)
	case out.Level != store.AlertInfo && out.Level != store.AlertWarn && out.Level != store.AlertError:
		return out, fmt.Errorf("level %q must be INFO, WARN or ERROR", a.Level)
	case a.WaitMS < 0 || a.WaitMS > MaxAlertWaitMS:
		return out, fmt.Errorf("wait_ms %d must be between 0 and %d (a year)", a.WaitMS, MaxAlertWaitMS)
	case math.IsNaN(a.Time) || math.IsInf(a.Time, 0) || a.Time < 0:
		return out, errors.New("time must be a finite, non-negative unix time in seconds")
	}
	return out, nil
}

func decodeSystem(s WireSystemRow) (store.SystemSample, error) {
	out := store.SystemSample{Time: s.Time, Values: map[string]float64{}}
	if math.IsNaN(s.Time) || math.IsInf(s.Time, 0) || s.Time < 0 {
		return out, errors.New("time must be a finite, non-negative unix time in seconds")
	}
	if len(s.Values) > MaxKeysPerRow {
		return out, fmt.Errorf("sample has %d keys; at most %d", len(s.Values), MaxKeysPerRow)
	}
	for k, v := range s.Values {
		if err := CheckKey(k); err != nil {
			return out, err
		}
		f, ok := v.(float64)
		if !ok {
			// System metrics are readings: a non-number is a sampler bug.
			return out, fmt.Errorf("system metric %q must be a finite number", k)
		}
		out.Values[k] = f
	}
	if len(out.Values) == 0 {
		return out, errors.New("values is empty")
	}
	return out, nil
}
