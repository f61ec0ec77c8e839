package query

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Expr
	}{
		{"", nil},
		{`config.lr > 0.01`, &Cmp{Field: Field{Root: "config", Path: []string{"lr"}}, Op: Gt, Values: []any{0.01}}},
		{`summary."val/loss" <= -1e-3`, &Cmp{Field: Field{Root: "summary", Path: []string{"val/loss"}}, Op: Le, Values: []any{-1e-3}}},
		{`summary.val/loss == 1`, &Cmp{Field: Field{Root: "summary", Path: []string{"val/loss"}}, Op: Eq, Values: []any{1.0}}},
		{`config.model.layers != null`, &Cmp{Field: Field{Root: "config", Path: []string{"model", "layers"}}, Op: Ne, Values: []any{nil}}},
		{`tags has 'best'`, &Cmp{Field: Field{Root: "tags"}, Op: Has, Values: []any{"best"}}},
		{`state in ("finished", "failed")`, &Cmp{Field: Field{Root: "state"}, Op: In, Values: []any{"finished", "failed"}}},
		{`config.x exists`, &Cmp{Field: Field{Root: "config", Path: []string{"x"}}, Op: Exists}},
		{`NAME ~ "bert" AND not config.frozen = true`, &And{
			L: &Cmp{Field: Field{Root: "name"}, Op: Contains, Values: []any{"bert"}},
			R: &Not{X: &Cmp{Field: Field{Root: "config", Path: []string{"frozen"}}, Op: Eq, Values: []any{true}}},
		}},
		{`(a_id_is_not_a_field = 1)`, nil}, // error case, see below
	}
	for _, tc := range tests[:len(tests)-1] {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestPrecedence(t *testing.T) {
	got, err := Parse(`state = "a" or state = "b" and id = "c"`)
	if err != nil {
		t.Fatal(err)
	}
	or, ok := got.(*Or)
	if !ok {
		t.Fatalf("top is %T, want *Or (and binds tighter)", got)
	}
	if _, ok := or.R.(*And); !ok {
		t.Errorf("right of or is %T, want *And", or.R)
	}
}

func TestParseErrors(t *testing.T) {
	tests := map[string]string{
		`config.lr >`:                  "expected a value",
		`bogus = 1`:                    "unknown field",
		`config = 1`:                   "needs a key",
		`config.lr 1`:                  "expected an operator",
		`config.lr = "unterminated`:    "unterminated",
		`tags = "x"`:                   "tags has",
		`name has "x"`:                 "tags only",
		`config.lr ~ 3`:                "needs a string",
		`config.lr = 1 junk`:           "unexpected",
		`(config.lr = 1`:               "expected ')'",
		`config.lr = 1 !`:              "'!' must be followed",
		`config."a""b" = 1`:            "expected an operator",
		strings.Repeat("(", 100) + "x": "nested deeper",
		strings.Repeat("a", 5000):      "longer than",
		"config.lr = \"\xff\"":         "UTF-8",
		`config.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q = 1`: "deeper than",
	}
	for in, want := range tests {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%.40q) = %v, want error containing %q", in, err, want)
		}
	}
}

func TestParseSort(t *testing.T) {
	got, err := ParseSort(`-summary."a,b", created_at, +config.lr`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Sort{
		{Field: Field{Root: "summary", Path: []string{"a,b"}}, Desc: true},
		{Field: Field{Root: "created_at"}},
		{Field: Field{Root: "config", Path: []string{"lr"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"nope", "config", "-summary.x y", "id; DROP", `config."x`} {
		_, err := ParseSort(bad)
		if err == nil {
			t.Errorf("ParseSort(%q) accepted", bad)
		} else if !strings.HasPrefix(err.Error(), "sort: ") {
			t.Errorf("ParseSort(%q) = %v, want an error that says it is the sort", bad, err)
		}
	}
}

func TestFieldString(t *testing.T) {
	f := Field{Root: "summary", Path: []string{"val/acc", "with space"}}
	if got := f.String(); got != `summary.val/acc."with space"` {
		t.Errorf("String = %s", got)
	}
	back, err := Parse(f.String() + " exists")
	if err != nil || !cmp.Equal(back.(*Cmp).Field, f) {
		t.Errorf("round trip = %v, %v", back, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`config.lr > 0.01 and tags has "x"`, `not (state in ("a","b"))`, `summary."a b" exists`, `-1e9`, `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			return
		}
		// Whatever parses must be a well-formed tree.
		var walk func(Expr)
		walk = func(e Expr) {
			switch e := e.(type) {
			case nil:
			case *And:
				walk(e.L)
				walk(e.R)
			case *Or:
				walk(e.L)
				walk(e.R)
			case *Not:
				walk(e.X)
			case *Cmp:
				if e.Op != Exists && len(e.Values) == 0 {
					t.Fatalf("Parse(%q): comparison without a value", s)
				}
				if (e.Field.Root == "config" || e.Field.Root == "summary") && len(e.Field.Path) == 0 {
					t.Fatalf("Parse(%q): %s without a path", s, e.Field.Root)
				}
			default:
				t.Fatalf("Parse(%q): unknown node %T", s, e)
			}
		}
		walk(e)
	})
}
