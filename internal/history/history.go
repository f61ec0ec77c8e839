// Package history holds the vocabulary of run history: series of points keyed
// by metric name, each point a (step, wall time, value). It defines the read
// interface a history backend provides and the downsampling that turns any
// number of points into a chart's worth while keeping every spike.
//
// The first backend stores one row per point in the metadata database; a
// compressed chunk engine will replace it behind the same interface.
package history

import (
	"context"
	"encoding/json"
	"math"

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
	ProjectKeys(ctx context.Context, projectPK int64) ([]string, error)
}
