// Package query parses the small expression language used to filter and
// sort runs, e.g.
//
//	config.lr >= 0.001 and state = "finished" and tags has "baseline"
//	summary."val/loss" < 0.3 or not (group = "ablation")
//
// Parsing yields a backend-neutral tree; each store backend compiles it to
// its own SQL with every user-supplied value bound as a parameter.
package query

import (
	"errors"
	"fmt"
	"strings"
)

// Field names a run column or a path into a run's config or summary.
type Field struct {
	Root string   // a column ("name", "state", ...), or "config" / "summary"
	Path []string // key path below config or summary; empty for columns
}

// String renders the field back in the language's syntax.
func (f Field) String() string {
	var b strings.Builder
	b.WriteString(f.Root)
	for _, p := range f.Path {
		b.WriteByte('.')
		if isPlainIdent(p) {
			b.WriteString(p)
		} else {
			fmt.Fprintf(&b, "%q", p)
		}
	}
	return b.String()
}

// Columns are the run fields that can be filtered and sorted on besides
// config and summary paths.
var Columns = map[string]bool{
	"id": true, "name": true, "state": true, "group": true, "job_type": true,
	"notes": true, "host": true, "program": true, "tags": true,
	"created_at": true, "updated_at": true, "heartbeat_at": true,
	"finished_at": true, "exit_code": true, "last_step": true,
}

// Expr is a filter expression: *And, *Or, *Not or *Cmp.
type Expr interface{ expr() }

// And is true when both sides are.
type And struct{ L, R Expr }

// Or is true when either side is.
type Or struct{ L, R Expr }

// Not negates X.
type Not struct{ X Expr }

// Op is a comparison operator.
type Op string

// Operators.
const (
	Eq       Op = "="
	Ne       Op = "!="
	Lt       Op = "<"
	Le       Op = "<="
	Gt       Op = ">"
	Ge       Op = ">="
	Contains Op = "~"      // substring, case-insensitive
	Has      Op = "has"    // tags has "x"
	In       Op = "in"     // field in (v1, v2, ...)
	Exists   Op = "exists" // config.x exists
)

// Cmp compares a field with one value (or several, for In).
type Cmp struct {
	Field  Field
	Op     Op
	Values []any // float64, string, bool or nil
}

func (*And) expr() {}
func (*Or) expr()  {}
func (*Not) expr() {}
func (*Cmp) expr() {}

// Sort orders by one field.
type Sort struct {
	Field Field
	Desc  bool
}

// ParseSort parses a comma-separated list of fields, each optionally
// prefixed with "-" for descending order: "-summary.acc,created_at".
func ParseSort(s string) ([]Sort, error) {
	var out []Sort
	for _, part := range splitTopLevel(s) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		desc := false
		if part[0] == '-' || part[0] == '+' {
			desc = part[0] == '-'
			part = part[1:]
		}
		p := &parser{lex: newLexer(part)}
		if err := p.next(); err != nil {
			return nil, sortErr(err)
		}
		f, err := p.field()
		if err != nil {
			return nil, sortErr(err)
		}
		if p.tok.kind != tEOF {
			return nil, fmt.Errorf("sort: unexpected %s after field %s", p.tok, f)
		}
		out = append(out, Sort{Field: f, Desc: desc})
	}
	if len(out) > 8 {
		return nil, fmt.Errorf("sort: at most 8 fields")
	}
	return out, nil
}

// splitTopLevel splits on commas outside quotes.
func splitTopLevel(s string) []string {
	var parts []string
	var quote byte
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == '\\':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == 0 && c == ',':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// sortErr words a lexer or field error met while parsing a sort as a sort error.
func sortErr(err error) error {
	return errors.New("sort: " + strings.TrimPrefix(err.Error(), "filter: "))
}
