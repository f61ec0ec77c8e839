// Package history holds the vocabulary of run history: series of points keyed
// by metric name, each point a (step, wall time, value). It defines the read
// interface a history backend provides and the downsampling that turns any
// number of points into a chart's worth while keeping every spike.
//
// Backends keep their own layout behind these interfaces. The SQLite store
// writes a batch's numeric points to a write log in the batch's transaction
// and a background compactor moves them into compressed columnar chunks
// (package history/chunk); strings, booleans and media JSON stay one row
// per point (docs/architecture.md, "History engine").
package history

import (
	"context"
	"encoding/json"
	"math"
	"strings"

	"github.com/fluoro-dev/fluoro/internal/history/chunk"
)

// Kind is the type of a history value.
type Kind uint8

// Value kinds. Numbers include NaN and ±Inf: a diverging loss is data.
const (
	Number Kind = iota
	String
	Bool
	JSON // objects and arrays, e.g. media and histograms
)

// Value is one logged value.
type Value struct {
	Kind Kind
	Num  float64 // Number; Bool as 0 or 1
	Text string  // String; JSON as its encoded text
}

// NumberValue returns a numeric value.
func NumberValue(f float64) Value { return Value{Kind: Number, Num: f} }

// MarshalJSON encodes numbers as JSON numbers, and NaN and ±Inf as the
// strings "NaN", "Infinity" and "-Infinity" (JSON has no literal for them).
func (v Value) MarshalJSON() ([]byte, error) {
	switch v.Kind {
	case Number:
		switch {
		case math.IsNaN(v.Num):
			return []byte(`"NaN"`), nil
		case math.IsInf(v.Num, 1):
			return []byte(`"Infinity"`), nil
		case math.IsInf(v.Num, -1):
			return []byte(`"-Infinity"`), nil
		}
		return json.Marshal(v.Num)
	case Bool:
		if v.Num != 0 {
			return []byte("true"), nil
		}
		return []byte("false"), nil
	case JSON:
		if v.Text == "" {
			return []byte("null"), nil
		}
		return []byte(v.Text), nil
	default:
		return json.Marshal(v.Text)
	}
}

// Types of values, as Value.Type reports them. A JSON object's type is its
// "_type" member instead ("histogram", "image-file", ...), when that is a
// string.
const (
	TypeNumber = "number" // NaN and ±Inf included
	TypeString = "string"
	TypeBool   = "bool"
	TypeJSON   = "json" // an array, or an object without a string "_type"
)

// Type says what a value holds, so that a UI can pick a panel for its key:
// TypeNumber, TypeString, TypeBool, a JSON object's "_type" (media and
// histograms: "image-file", "histogram", ...) or TypeJSON.
func (v Value) Type() string {
	switch v.Kind {
	case Number:
		return TypeNumber
	case Bool:
		return TypeBool
	case JSON:
		if t, ok := jsonType(v.Text); ok {
			return t
		}
		return TypeJSON
	default:
		return TypeString
	}
}

// jsonType returns the string "_type" member of a JSON object. Encoders
// that sort keys (Go's, Python's with sort_keys) put it first or nearly so;
// the members before it are skipped without being decoded into values.
func jsonType(text string) (string, bool) {
	const prefix = `{"_type":"`
	if rest, ok := strings.CutPrefix(text, prefix); ok {
		if i := strings.IndexByte(rest, '"'); i >= 0 && !strings.ContainsRune(rest[:i], '\\') {
			return rest[:i], rest[:i] != ""
		}
	}
	dec := json.NewDecoder(strings.NewReader(text))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		if tok == "_type" {
			var t string
			if err := dec.Decode(&t); err != nil || t == "" {
				return "", false
			}
			return t, true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

// Field is one key and value of a row.
type Field struct {
	Key   string
	Value Value
}

// Row is one logged step: the values of several keys at one step and time.
type Row struct {
	Step   int64
	Time   float64 // unix seconds
	Fields []Field
}

// Point is one value of one series.
type Point struct {
	Step  int64
	Time  float64
	Value Value
}

// KeyInfo describes a series.
type KeyInfo struct {
	Key     string
	Points  int64
	MinStep int64
	MaxStep int64
	Type    string // of the most recently written value: see Value.Type
}

// KeyType names a key of a project and the type of its most recently
// written value (in any run).
type KeyType struct {
	Key  string
	Type string
}

// Range bounds a query by step, inclusive at both ends.
type Range struct {
	Min int64
	Max int64
}

// All is the range of every step.
var All = Range{Min: math.MinInt64, Max: math.MaxInt64}

// Chart is a series reduced for drawing.
type Chart struct {
	Points  []Point
	Total   int64 // points in range before reduction
	Sampled bool  // true when Points is a reduction
}

// Charter is implemented by backends that can reduce a series from stored
// summaries, at a cost that depends on the requested points rather than on
// the points stored. Callers fall back to Scan plus a Downsampler.
type Charter interface {
	Chart(ctx context.Context, runPK int64, key string, r Range, limit int) (Chart, error)
}

// ColumnScanner is implemented by backends that can stream a series'
// numeric points as columns, a block at a time, for fast export.
type ColumnScanner interface {
	ScanColumns(ctx context.Context, runPK int64, key string, r Range, fn func(chunk.Points) error) error
}

// Reader reads history. Scan calls fn for every point of one series in the
// range, in step order; returning an error from fn stops the scan.
type Reader interface {
	Scan(ctx context.Context, runPK int64, key string, r Range, fn func(Point) error) error
	RunKeys(ctx context.Context, runPK int64) ([]KeyInfo, error)
	ProjectKeys(ctx context.Context, projectPK int64) ([]KeyType, error)
}

// KeyFinder is implemented by backends that can describe some keys of a
// run without listing all of them: a chart of one key of a run with 100k
// keys reads one row, not 100k. Keys the run lacks are left out. Callers
// fall back to RunKeys.
type KeyFinder interface {
	FindRunKeys(ctx context.Context, runPK int64, keys []string) ([]KeyInfo, error)
}

// StepScanner is implemented by backends that can list the steps (and wall
// times) of a series without reading its values: which steps of a media key
// hold an image, without loading every image's JSON. Callers fall back to
// Scan.
type StepScanner interface {
	ScanSteps(ctx context.Context, runPK int64, key string, r Range, fn func(step int64, time float64) error) error
}
