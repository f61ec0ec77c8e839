package sqlite

import (
	"fmt"
	"strings"
	"time"

	"github.com/fluoro-dev/fluoro/internal/query"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// columnSQL maps filterable run columns to SQL. Every user value is bound.
var columnSQL = map[string]string{
	"id": "r.run_id", "name": "r.name", "state": "r.state", "group": "r.run_group",
	"job_type": "r.job_type", "notes": "r.notes", "host": "r.host", "program": "r.program",
	"created_at": "r.created_at", "updated_at": "r.updated_at", "heartbeat_at": "r.heartbeat_at",
	"finished_at": "r.finished_at", "exit_code": "r.exit_code", "last_step": "r.last_step",
}

var timeColumns = map[string]bool{"created_at": true, "updated_at": true, "heartbeat_at": true, "finished_at": true}

// jsonPath builds a SQLite JSON path with every key quoted.
func jsonPath(keys []string) string {
	var b strings.Builder
	b.WriteString("$")
	for _, k := range keys {
		b.WriteString(`."`)
		b.WriteString(k)
		b.WriteString(`"`)
	}
	return b.String()
}

// fieldSQL returns the SQL expression for a field and its bound arguments.
func fieldSQL(f query.Field) (string, []any, error) {
	switch f.Root {
	case "config", "summary":
		return "json_extract(r." + f.Root + ", ?)", []any{jsonPath(f.Path)}, nil
	}
	col, ok := columnSQL[f.Root]
	if !ok {
		return "", nil, fmt.Errorf("field %s: %w: cannot be compared or sorted", f, store.ErrInvalid)
	}
	return col, nil, nil
}

// bindValue converts a filter literal for comparison with field f.
func bindValue(f query.Field, v any) (any, error) {
	if s, ok := v.(string); ok && timeColumns[f.Root] {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UnixMilli(), nil
			}
		}
		return nil, fmt.Errorf("field %s: %w: %q is not a time (use 2006-01-02 or RFC 3339)", f, store.ErrInvalid, s)
	}
	if b, ok := v.(bool); ok {
		if b {
			return 1, nil
		}
		return 0, nil
	}
	return v, nil
}

func compileFilter(e query.Expr) (string, []any, error) {
	if e == nil {
		return "", nil, nil
	}
	switch e := e.(type) {
	case *query.And:
		return compileBinary("AND", e.L, e.R)
	case *query.Or:
		return compileBinary("OR", e.L, e.R)
	case *query.Not:
		s, args, err := compileFilter(e.X)
		if err != nil {
			return "", nil, err
		}
		return "NOT COALESCE((" + s + "), 0)", args, nil
	case *query.Cmp:
		return compileCmp(e)
	}
	return "", nil, fmt.Errorf("filter: %w: unknown expression %T", store.ErrInvalid, e)
}

func compileBinary(op string, l, r query.Expr) (string, []any, error) {
	ls, la, err := compileFilter(l)
	if err != nil {
		return "", nil, err
	}
	rs, ra, err := compileFilter(r)
	if err != nil {
		return "", nil, err
	}
	return "(" + ls + ") " + op + " (" + rs + ")", append(la, ra...), nil
}

func compileCmp(c *query.Cmp) (string, []any, error) {
	if c.Field.Root == "tags" {
		if c.Op != query.Has || len(c.Values) != 1 {
			return "", nil, fmt.Errorf("filter: %w: use tags has \"x\"", store.ErrInvalid)
		}
		return "EXISTS (SELECT 1 FROM json_each(r.tags) WHERE value = ?)", []any{c.Values[0]}, nil
	}
	col, args, err := fieldSQL(c.Field)
	if err != nil {
		return "", nil, err
	}
	if c.Op == query.Exists {
		if c.Field.Root == "config" || c.Field.Root == "summary" {
			return "json_type(r." + c.Field.Root + ", ?) IS NOT NULL", args, nil
		}
		return col + " IS NOT NULL AND " + col + " != ''", nil, nil
	}
	vals := make([]any, len(c.Values))
	for i, v := range c.Values {
		if vals[i], err = bindValue(c.Field, v); err != nil {
			return "", nil, err
		}
	}
	switch c.Op {
	case query.In:
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ")
		return col + " IN (" + ph + ")", append(args, vals...), nil
	case query.Contains:
		return "instr(lower(CAST(" + col + " AS TEXT)), lower(?)) > 0", append(args, vals[0]), nil
	case query.Eq:
		if vals[0] == nil {
			return col + " IS NULL", args, nil
		}
		return col + " = ?", append(args, vals[0]), nil
	case query.Ne:
		if vals[0] == nil {
			return col + " IS NOT NULL", args, nil
		}
		// A run without the key counts as different.
		return "(" + col + " IS NULL OR " + col + " != ?)", append(append(args, args...), vals[0]), nil
	case query.Lt, query.Le, query.Gt, query.Ge:
		if vals[0] == nil {
			return "", nil, fmt.Errorf("filter: %w: cannot order-compare with null", store.ErrInvalid)
		}
		return col + " " + string(c.Op) + " ?", append(args, vals[0]), nil
	}
	return "", nil, fmt.Errorf("filter: %w: operator %q", store.ErrInvalid, c.Op)
}

func compileSort(sorts []query.Sort) (string, []any, error) {
	if len(sorts) == 0 {
		return "r.created_at DESC, r.id DESC", nil, nil
	}
	var parts []string
	var args []any
	for _, s := range sorts {
		if s.Field.Root == "tags" {
			return "", nil, fmt.Errorf("sort: %w: cannot sort by tags", store.ErrInvalid)
		}
		col, a, err := fieldSQL(s.Field)
		if err != nil {
			return "", nil, err
		}
		dir := " ASC"
		if s.Desc {
			dir = " DESC"
		}
		parts = append(parts, col+dir+" NULLS LAST")
		args = append(args, a...)
	}
	parts = append(parts, "r.id DESC")
	return strings.Join(parts, ", "), args, nil
}
