package query

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits that keep a hostile filter cheap to parse and to run.
const (
	maxFilterLen = 4096
	maxDepth     = 32
	maxInValues  = 100
	maxPathDepth = 16
)

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tOp
	tLParen
	tRParen
	tComma
	tDot
)

type token struct {
	kind tokKind
	text string // identifier, decoded string, number text or operator
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of filter"
	case tString:
		return strconv.Quote(t.text)
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

type lexer struct {
	src string
	pos int
}

func newLexer(s string) *lexer { return &lexer{src: s} }

func isIdentStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c >= 0x80
}

func isIdentPart(c byte) bool {
	return isIdentStart(c) || ('0' <= c && c <= '9') || c == '/' || c == '-'
}

func isPlainIdent(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentPart(s[i]) {
			return false
		}
	}
	return true
}

func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) && strings.IndexByte(" \t\r\n", l.src[l.pos]) >= 0 {
		l.pos++
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := l.src[l.pos]
	switch {
	case c == '(':
		l.pos++
		return token{kind: tLParen, text: "(", pos: start}, nil
	case c == ')':
		l.pos++
		return token{kind: tRParen, text: ")", pos: start}, nil
	case c == ',':
		l.pos++
		return token{kind: tComma, text: ",", pos: start}, nil
	case c == '.':
		l.pos++
		return token{kind: tDot, text: ".", pos: start}, nil
	case c == '"' || c == '\'':
		return l.str(c)
	case c == '=' || c == '~':
		l.pos++
		if c == '=' && l.pos < len(l.src) && l.src[l.pos] == '=' {
			l.pos++
		}
		return token{kind: tOp, text: string(c), pos: start}, nil
	case c == '!' || c == '<' || c == '>':
		l.pos++
		if l.pos < len(l.src) && l.src[l.pos] == '=' {
			l.pos++
			return token{kind: tOp, text: string(c) + "=", pos: start}, nil
		}
		if c == '!' {
			return token{}, fmt.Errorf("filter: at %d: '!' must be followed by '='", start)
		}
		return token{kind: tOp, text: string(c), pos: start}, nil
	case c == '-' || c == '+' || ('0' <= c && c <= '9'):
		l.pos++
		for l.pos < len(l.src) && strings.IndexByte("0123456789.eE+-", l.src[l.pos]) >= 0 {
			// a sign inside a number only directly after an exponent marker
			if (l.src[l.pos] == '+' || l.src[l.pos] == '-') && !strings.ContainsRune("eE", rune(l.src[l.pos-1])) {
				break
			}
			l.pos++
		}
		text := l.src[start:l.pos]
		if _, err := strconv.ParseFloat(text, 64); err != nil {
			return token{}, fmt.Errorf("filter: at %d: bad number %q", start, text)
		}
		return token{kind: tNumber, text: text, pos: start}, nil
	case isIdentStart(c):
		for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tIdent, text: l.src[start:l.pos], pos: start}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
	return token{}, fmt.Errorf("filter: at %d: unexpected character %q", start, r)
}

func (l *lexer) str(q byte) (token, error) {
	start := l.pos
	l.pos++
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch c {
		case q:
			l.pos++
			return token{kind: tString, text: b.String(), pos: start}, nil
		case '\\':
			if l.pos+1 >= len(l.src) {
				return token{}, fmt.Errorf("filter: at %d: unterminated string", start)
			}
			b.WriteByte(l.src[l.pos+1])
			l.pos += 2
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	return token{}, fmt.Errorf("filter: at %d: unterminated string", start)
}

type parser struct {
	lex   *lexer
	tok   token
	depth int
}

func (p *parser) next() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) keyword(words ...string) bool {
	if p.tok.kind != tIdent {
		return false
	}
	for _, w := range words {
		if strings.EqualFold(p.tok.text, w) {
			return true
		}
	}
	return false
}

// Parse parses a filter expression. An empty filter returns nil, which
// matches every run.
func Parse(s string) (Expr, error) {
	if len(s) > maxFilterLen {
		return nil, fmt.Errorf("filter: longer than %d bytes", maxFilterLen)
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("filter: not valid UTF-8")
	}
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	p := &parser{lex: newLexer(s)}
	if err := p.next(); err != nil {
		return nil, err
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, fmt.Errorf("filter: at %d: unexpected %s", p.tok.pos, p.tok)
	}
	return e, nil
}

func (p *parser) or() (Expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		if err := p.next(); err != nil {
			return nil, err
		}
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &Or{L: l, R: r}
	}
	return l, nil
}

func (p *parser) and() (Expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		if err := p.next(); err != nil {
			return nil, err
		}
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &And{L: l, R: r}
	}
	return l, nil
}

func (p *parser) unary() (Expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, fmt.Errorf("filter: nested deeper than %d", maxDepth)
	}
	if p.keyword("not") {
		if err := p.next(); err != nil {
			return nil, err
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	}
	if p.tok.kind == tLParen {
		if err := p.next(); err != nil {
			return nil, err
		}
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, fmt.Errorf("filter: at %d: expected ')' but found %s", p.tok.pos, p.tok)
		}
		return e, p.next()
	}
	return p.cmp()
}

func (p *parser) field() (Field, error) {
	if p.tok.kind != tIdent {
		return Field{}, fmt.Errorf("filter: at %d: expected a field such as config.lr, summary.loss or state, found %s", p.tok.pos, p.tok)
	}
	f := Field{Root: strings.ToLower(p.tok.text)}
	if err := p.next(); err != nil {
		return Field{}, err
	}
	if f.Root == "config" || f.Root == "summary" {
		for p.tok.kind == tDot {
			if err := p.next(); err != nil {
				return Field{}, err
			}
			if p.tok.kind != tIdent && p.tok.kind != tString && p.tok.kind != tNumber {
				return Field{}, fmt.Errorf("filter: at %d: expected a key after '.', found %s", p.tok.pos, p.tok)
			}
			if p.tok.text == "" || strings.ContainsAny(p.tok.text, "\"\x00") {
				return Field{}, fmt.Errorf("filter: at %d: key %s cannot be empty or contain '\"'", p.tok.pos, p.tok)
			}
			f.Path = append(f.Path, p.tok.text)
			if len(f.Path) > maxPathDepth {
				return Field{}, fmt.Errorf("filter: key path deeper than %d", maxPathDepth)
			}
			if err := p.next(); err != nil {
				return Field{}, err
			}
		}
		if len(f.Path) == 0 {
			return Field{}, fmt.Errorf("filter: %s needs a key, e.g. %s.lr", f.Root, f.Root)
		}
		return f, nil
	}
	if !Columns[f.Root] {
		return Field{}, fmt.Errorf("filter: unknown field %q (use config.KEY, summary.KEY or one of %s)", f.Root, columnList())
	}
	return f, nil
}

func columnList() string {
	return "id, name, state, group, job_type, notes, host, program, tags, created_at, updated_at, heartbeat_at, finished_at, exit_code, last_step"
}

func (p *parser) cmp() (Expr, error) {
	f, err := p.field()
	if err != nil {
		return nil, err
	}
	c := &Cmp{Field: f}
	switch {
	case p.tok.kind == tOp:
		c.Op = Op(p.tok.text)
	case p.keyword("has"):
		c.Op = Has
	case p.keyword("in"):
		c.Op = In
	case p.keyword("exists"):
		c.Op = Exists
		return c, p.next()
	default:
		return nil, fmt.Errorf("filter: at %d: expected an operator (= != < <= > >= ~ has in exists) after %s, found %s", p.tok.pos, f, p.tok)
	}
	if c.Op == Has && f.Root != "tags" {
		return nil, fmt.Errorf("filter: 'has' applies to tags only")
	}
	if f.Root == "tags" && c.Op != Has {
		return nil, fmt.Errorf("filter: use 'tags has \"x\"' to filter on tags")
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	if c.Op == In {
		if p.tok.kind != tLParen {
			return nil, fmt.Errorf("filter: at %d: expected '(' after in", p.tok.pos)
		}
		for {
			if err := p.next(); err != nil {
				return nil, err
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			c.Values = append(c.Values, v)
			if len(c.Values) > maxInValues {
				return nil, fmt.Errorf("filter: at most %d values in 'in'", maxInValues)
			}
			if p.tok.kind == tRParen {
				return c, p.next()
			}
			if p.tok.kind != tComma {
				return nil, fmt.Errorf("filter: at %d: expected ',' or ')' in list, found %s", p.tok.pos, p.tok)
			}
		}
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	c.Values = []any{v}
	if c.Op == Contains {
		if _, ok := v.(string); !ok {
			return nil, fmt.Errorf("filter: '~' needs a string")
		}
	}
	if c.Op == Has {
		if _, ok := v.(string); !ok {
			return nil, fmt.Errorf("filter: 'tags has' needs a string")
		}
	}
	return c, nil
}

// value parses a literal and advances past it.
func (p *parser) value() (any, error) {
	t := p.tok
	var v any
	switch {
	case t.kind == tString:
		v = t.text
	case t.kind == tNumber:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, fmt.Errorf("filter: at %d: bad number %q", t.pos, t.text)
		}
		v = f
	case p.keyword("true"):
		v = true
	case p.keyword("false"):
		v = false
	case p.keyword("null"):
		v = nil
	default:
		return nil, fmt.Errorf("filter: at %d: expected a value (number, \"string\", true, false, null), found %s", t.pos, t)
	}
	return v, p.next()
}
