package history

import "testing"

func TestValueType(t *testing.T) {
	cases := []struct {
		name string
		v    Value
		want string
	}{
		{"number", NumberValue(1.5), TypeNumber},
		{"string", Value{Kind: String, Text: `{"_type":"image-file"}`}, TypeString},
		{"bool", Value{Kind: Bool, Num: 1}, TypeBool},
		{"sorted media", Value{Kind: JSON, Text: `{"_type":"image-file","height":2,"path":"media/a.png"}`}, "image-file"},
		{"type after other members", Value{Kind: JSON, Text: `{"Bins":[1,2,{"_type":"inner"}],"nested":{"_type":"no"},"_type":"histogram"}`}, "histogram"},
		{"spaces", Value{Kind: JSON, Text: `{ "_type" : "fluoro.layer-norms" }`}, "fluoro.layer-norms"},
		{"slash in type", Value{Kind: JSON, Text: `{"_type":"images/separated","count":2}`}, "images/separated"},
		{"escaped", Value{Kind: JSON, Text: `{"_type":"a\"b"}`}, `a"b`},
		{"array", Value{Kind: JSON, Text: `[1,2,3]`}, TypeJSON},
		{"no _type", Value{Kind: JSON, Text: `{"a":1}`}, TypeJSON},
		{"non-string _type", Value{Kind: JSON, Text: `{"_type":5}`}, TypeJSON},
		{"empty _type", Value{Kind: JSON, Text: `{"_type":""}`}, TypeJSON},
		{"malformed", Value{Kind: JSON, Text: `{"_type`}, TypeJSON},
		{"empty", Value{Kind: JSON}, TypeJSON},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.v.Type(); got != c.want {
				t.Errorf("Type() = %q, want %q", got, c.want)
			}
		})
	}
}
