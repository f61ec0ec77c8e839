package api

import (
	"encoding/json"
	"math"
	"math/rand"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/history"
)

// TestValuesJSONMatchesEncodingJSON checks the fast column encoder against
// encoding each value with encoding/json.
func TestValuesJSONMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	vs := []history.Value{history.NumberValue(0), history.NumberValue(math.Copysign(0, -1)), history.NumberValue(1e-7),
		history.NumberValue(1e21), history.NumberValue(-1e-300), history.NumberValue(math.MaxFloat64), history.NumberValue(math.NaN()),
		history.NumberValue(math.Inf(1)), history.NumberValue(math.Inf(-1)), {Kind: history.String, Text: "a\\\"<b>"},
		{Kind: history.Bool, Num: 1}, {Kind: history.JSON, Text: `{"_type":"image-file"}`}, {Kind: history.JSON}}
	for i := 0; i < 10000; i++ {
		vs = append(vs, history.NumberValue(math.Float64frombits(rng.Uint64())), history.NumberValue(rng.NormFloat64()*math.Pow(10, float64(rng.Intn(60)-30))))
	}
	got, err := json.Marshal(valuesJSON(vs))
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal([]history.Value(vs))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("valuesJSON differs from encoding/json:\n got %.300s\nwant %.300s", got, want)
	}
}

// TestAppendJSONStringMatchesEncodingJSON checks the key list's string
// encoder against encoding/json, escapes and invalid UTF-8 included.
func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "train/loss", "a\"b", `a\b`, "<tag>&", "tab\there", "ünï/cødé κ", "\x7f", "bad\xffutf8", "\u2028", "layer_0000001/grad_norm"} {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}
