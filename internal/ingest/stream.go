package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/fluoro-dev/fluoro/internal/history"
)

// The history array is the bulk of every batch, so it is decoded by
// streaming tokens straight into rows, without building maps; the small
// rest of the batch goes through encoding/json.

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadBatch}, args...)...)
}

func syntaxErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return badf("malformed JSON: unexpected end of body")
	}
	return badf("malformed JSON: %v", err)
}

func expect(dec *jsontext.Decoder, kind jsontext.Kind, what string) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return syntaxErr(err)
	}
	if tok.Kind() != kind {
		return badf("%s must be %s", what, kindName(kind))
	}
	return nil
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case '0':
		return "a number"
	}
	return "a value"
}

// jsonTypeName names a Go decoding target the way a JSON user would.
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a value"
}

// decodeStream decodes a sanitized batch.
func decodeStream(clean []byte) (*Wire, []rowResult, error) {
	// Duplicate member names are allowed here (the last wins, as in
	// encoding/json); rows check their own keys after flattening.
	dec := jsontext.NewDecoder(bytes.NewReader(clean), jsontext.AllowDuplicateNames(true))
	if len(bytes.TrimSpace(clean)) == 0 {
		return nil, nil, badf("empty body: send a JSON batch object")
	}
	if err := expect(dec, '{', "the batch"); err != nil {
		return nil, nil, err
	}
	var w Wire
	var rows []rowResult
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, nil, syntaxErr(err)
		}
		name := tok.String()
		if dec.PeekKind() == 0 {
			_, err := dec.ReadToken()
			return nil, nil, syntaxErr(err)
		}
		switch name {
		case "entity", "project", "run_id", "writer":
			if dec.PeekKind() != '"' {
				_ = dec.SkipValue()
				return nil, nil, badf("field %q must be a string", name)
			}
			tok, err := dec.ReadToken()
			if err != nil {
				return nil, nil, syntaxErr(err)
			}
			*map[string]*string{"entity": &w.Entity, "project": &w.Project, "run_id": &w.RunID, "writer": &w.Writer}[name] = tok.String()
		case "seq", "logged":
			n, err := readCount(dec, name)
			if err != nil {
				return nil, nil, err
			}
			if name == "seq" {
				w.Seq = &n
			} else {
				w.Logged = n
			}
		case "history":
			if dec.PeekKind() == 'n' {
				_, _ = dec.ReadToken()
				continue
			}
			if rows, err = decodeHistory(dec, keyInterner{}); err != nil {
				return nil, nil, err
			}
		case "summary", "console", "system", "alerts":
			raw, err := dec.ReadValue()
			if err != nil {
				return nil, nil, syntaxErr(err)
			}
			target := map[string]any{"summary": &w.Summary, "console": &w.Console, "system": &w.System, "alerts": &w.Alerts}[name]
			if err := json.Unmarshal(raw, target); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					field := name
					if te.Field != "" {
						field += "." + te.Field
					}
					return nil, nil, badf("field %q must be %s, not %s", field, jsonTypeName(te.Type), te.Value)
				}
				return nil, nil, badf("field %q: %v", name, err)
			}
		default:
			return nil, nil, badf("unknown field %q (known: entity, project, run_id, writer, seq, logged, history, summary, console, system, alerts)", name)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, nil, syntaxErr(err)
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, nil, badf("trailing data after the batch object")
	}
	return &w, rows, nil
}

// readCount reads the value of field name, a non-negative integer.
func readCount(dec *jsontext.Decoder, name string) (int64, error) {
	if dec.PeekKind() != '0' {
		_ = dec.SkipValue()
		return 0, badf("field %q must be a non-negative integer", name)
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return 0, syntaxErr(err)
	}
	n, err := tok.Int()
	if err != nil || n < 0 {
		return 0, badf("field %q must be a non-negative integer", name)
	}
	return n, nil
}

// rowResult is a decoded row or the reason it was rejected.
type rowResult struct {
	row history.Row
	err error
}

// keyInterner shares one string per distinct key across the rows of a
// batch, so a 20-key row costs no key allocations after the first row.
type keyInterner map[string]string

// name reads an object member name.
func (k keyInterner) name(dec *jsontext.Decoder) (string, error) {
	raw, err := dec.ReadValue()
	if err != nil {
		return "", syntaxErr(err)
	}
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		body := raw[1 : len(raw)-1]
		if s, ok := k[string(body)]; ok {
			return s, nil
		}
		s := string(body)
		if len(k) < 100_000 {
			k[s] = s
		}
		return s, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", badf("malformed member name: %v", err)
	}
	return s, nil
}

func decodeHistory(dec *jsontext.Decoder, keys keyInterner) ([]rowResult, error) {
	if err := expect(dec, '[', "field \"history\""); err != nil {
		return nil, err
	}
	var out []rowResult
	for i := 0; dec.PeekKind() != ']'; i++ {
		if dec.PeekKind() == 0 {
			_, err := dec.ReadToken()
			return nil, syntaxErr(err)
		}
		r, err := decodeRowStream(dec, i, keys)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, syntaxErr(err)
	}
	return out, nil
}

func number(dec *jsontext.Decoder, what string) (*float64, error) {
	switch dec.PeekKind() {
	case 0:
		_, err := dec.ReadToken()
		return nil, syntaxErr(err)
	case 'n':
		_, _ = dec.ReadToken()
		return nil, nil
	case '0':
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, syntaxErr(err)
		}
		f, err := tok.Float()
		if err != nil && !math.IsInf(f, 0) {
			return nil, badf("%s: %v", what, err)
		}
		return &f, nil
	}
	_ = dec.SkipValue()
	return nil, badf("%s must be a number", what)
}

// decodeRowStream reads one row object. A structural or type problem is a
// batch error; a rule broken by the row's content rejects only the row.
func decodeRowStream(dec *jsontext.Decoder, i int, keys keyInterner) (rowResult, error) {
	var res rowResult
	if err := expect(dec, '{', fmt.Sprintf("history[%d]", i)); err != nil {
		return res, err
	}
	var step, t *float64
	var rowErr error
	reject := func(err error) {
		if rowErr == nil {
			rowErr = err
		}
	}
	sawValues := false
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return res, syntaxErr(err)
		}
		switch name := tok.String(); name {
		case "step":
			if step, err = number(dec, fmt.Sprintf("history[%d].step", i)); err != nil {
				return res, err
			}
		case "time":
			if t, err = number(dec, fmt.Sprintf("history[%d].time", i)); err != nil {
				return res, err
			}
		case "values":
			sawValues = true
			if dec.PeekKind() == 0 {
				_, err := dec.ReadToken()
				return res, syntaxErr(err)
			}
			if dec.PeekKind() != '{' {
				_ = dec.SkipValue()
				return res, badf("history[%d].values must be an object", i)
			}
			fields, ferr, err := decodeValues(dec, i, keys)
			if err != nil {
				return res, err
			}
			if ferr != nil {
				reject(ferr)
			}
			res.row.Fields = fields
		default:
			return res, badf("unknown field \"history[%d].%s\" (known: step, time, values)", i, name)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return res, syntaxErr(err)
	}
	switch {
	case step == nil:
		reject(errors.New("step is required"))
	case *step != math.Trunc(*step) || *step < 0 || *step > MaxStep:
		reject(fmt.Errorf("step %v must be an integer from 0 to 2^53", *step))
	default:
		res.row.Step = int64(*step)
	}
	if t != nil {
		if math.IsNaN(*t) || math.IsInf(*t, 0) || *t < 0 {
			reject(errors.New("time must be a finite, non-negative unix time in seconds"))
		}
		res.row.Time = *t
	}
	if !sawValues || len(res.row.Fields) == 0 && rowErr == nil {
		reject(errors.New("values is empty: a row needs at least one key"))
	}
	if rowErr == nil {
		fs := res.row.Fields
		sort.Slice(fs, func(i, j int) bool { return fs[i].Key < fs[j].Key })
		for j := 1; j < len(fs); j++ {
			if fs[j].Key == fs[j-1].Key {
				reject(fmt.Errorf("key %q appears twice (a nested object and a dotted key name the same series)", fs[j].Key))
				break
			}
		}
	}
	if rowErr != nil {
		return rowResult{err: rowErr}, nil
	}
	return res, nil
}

// decodeValues reads a values object into fields. ferr rejects the row;
// err fails the batch (malformed JSON).
func decodeValues(dec *jsontext.Decoder, i int, keys keyInterner) (fields []history.Field, ferr error, err error) {
	if _, err := dec.ReadToken(); err != nil { // '{'
		return nil, nil, syntaxErr(err)
	}
	reject := func(e error) {
		if ferr == nil {
			ferr = e
		}
	}
	for dec.PeekKind() != '}' {
		key, err := keys.name(dec)
		if err != nil {
			return nil, nil, err
		}
		if ferr == nil {
			if kerr := CheckKey(key); kerr != nil {
				reject(kerr)
			}
		}
		switch dec.PeekKind() {
		case '0':
			tok, err := dec.ReadToken()
			if err != nil {
				return nil, nil, syntaxErr(err)
			}
			f, ferr2 := tok.Float()
			if ferr2 != nil && !math.IsInf(f, 0) {
				reject(fmt.Errorf("key %q: %v", key, ferr2))
			}
			fields = append(fields, history.Field{Key: key, Value: history.NumberValue(f)})
		case '"':
			tok, err := dec.ReadToken()
			if err != nil {
				return nil, nil, syntaxErr(err)
			}
			val, _, verr := toValue(tok.String())
			if verr != nil {
				reject(fmt.Errorf("key %q: %w", key, verr))
			}
			fields = append(fields, history.Field{Key: key, Value: val})
		case 't', 'f':
			tok, err := dec.ReadToken()
			if err != nil {
				return nil, nil, syntaxErr(err)
			}
			val, _, _ := toValue(tok.Bool())
			fields = append(fields, history.Field{Key: key, Value: val})
		case 'n':
			_, _ = dec.ReadToken()
		case '{', '[':
			raw, err := dec.ReadValue()
			if err != nil {
				return nil, nil, syntaxErr(err)
			}
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, nil, badf("history[%d].values[%q]: %v", i, key, err)
			}
			if obj, ok := v.(map[string]any); ok {
				if _, media := obj["_type"]; !media {
					if err := flatten(key, obj, 1, &fields); err != nil {
						reject(err)
					}
					continue
				}
			}
			val, _, verr := toValue(v)
			if verr != nil {
				reject(fmt.Errorf("key %q: %w", key, verr))
			}
			fields = append(fields, history.Field{Key: key, Value: val})
		default:
			_, err := dec.ReadToken()
			return nil, nil, syntaxErr(err)
		}
		if len(fields) > MaxKeysPerRow {
			reject(fmt.Errorf("row has more than %d keys; at most %d per row", MaxKeysPerRow, MaxKeysPerRow))
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, nil, syntaxErr(err)
	}
	if ferr != nil {
		return nil, ferr, nil
	}
	return fields, nil, nil
}
