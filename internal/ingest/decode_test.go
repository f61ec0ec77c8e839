package ingest

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/store"
)

const head = `"entity":"e","project":"p","run_id":"r","writer":"w","seq":1`

func batch(body string) []byte { return []byte("{" + head + body + "}") }

func fieldMap(r history.Row) map[string]history.Value {
	m := map[string]history.Value{}
	for _, f := range r.Fields {
		m[f.Key] = f.Value
	}
	return m
}

func TestDecodeValues(t *testing.T) {
	d, err := Decode(batch(`,"history":[{"step":3,"time":1.5,"values":{
		"loss":NaN,"up":Infinity,"down":-Infinity,"neg":-1.5,"s":"NaN as text","b":true,
		"nested":{"a":{"b":2}},"img":{"_type":"image-file","path":"x.png"},"arr":[1,NaN],"skip":null,
		"key with spaces/and.dots ✓":7}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Rejected) != 0 || len(d.Batch.History) != 1 {
		t.Fatalf("rejected %v", d.Rejected)
	}
	r := d.Batch.History[0]
	if r.Step != 3 || r.Time != 1.5 {
		t.Errorf("step/time = %d/%v", r.Step, r.Time)
	}
	m := fieldMap(r)
	if !math.IsNaN(m["loss"].Num) || !math.IsInf(m["up"].Num, 1) || !math.IsInf(m["down"].Num, -1) || m["neg"].Num != -1.5 {
		t.Errorf("numbers = %+v %+v %+v %+v", m["loss"], m["up"], m["down"], m["neg"])
	}
	if m["s"].Kind != history.String || m["s"].Text != "NaN as text" {
		t.Errorf("string that says NaN became %+v", m["s"])
	}
	if m["b"].Kind != history.Bool || m["b"].Num != 1 {
		t.Errorf("bool = %+v", m["b"])
	}
	if m["nested.a.b"].Num != 2 {
		t.Errorf("nested dict not flattened: %v", m)
	}
	if m["img"].Kind != history.JSON || !strings.Contains(m["img"].Text, `"_type":"image-file"`) {
		t.Errorf("media = %+v", m["img"])
	}
	if m["arr"].Text != `[1,"NaN"]` {
		t.Errorf("array = %q", m["arr"].Text)
	}
	if _, ok := m["skip"]; ok {
		t.Error("null kept")
	}
	if m["key with spaces/and.dots ✓"].Num != 7 {
		t.Error("unicode key lost")
	}
}

func TestDecodeBatchErrors(t *testing.T) {
	tests := map[string]struct {
		body []byte
		want string
	}{
		"malformed":       {[]byte(`{"entity":`), "malformed JSON"},
		"empty":           {[]byte(``), "empty body"},
		"not object":      {[]byte(`[1,2]`), "must be"},
		"wrong type":      {[]byte(`{"entity":"e","project":"p","run_id":"r","writer":"w","seq":"one"}`), `field "seq" must be`},
		"no seq":          {[]byte(`{"entity":"e","project":"p","run_id":"r","writer":"w"}`), "seq is required"},
		"negative seq":    {[]byte(`{"entity":"e","project":"p","run_id":"r","writer":"w","seq":-1}`), `field "seq" must be a non-negative integer`},
		"negative logged": {[]byte(`{"entity":"e","project":"p","run_id":"r","writer":"w","seq":1,"logged":-5}`), `field "logged" must be a non-negative integer`},
		"logged as text":  {[]byte(`{"entity":"e","project":"p","run_id":"r","writer":"w","seq":1,"logged":"5"}`), `field "logged" must be a non-negative integer`},
		"no writer":       {[]byte(`{"entity":"e","project":"p","run_id":"r","seq":1}`), "writer is required"},
		"no run":          {[]byte(`{"entity":"e","project":"p","writer":"w","seq":1}`), "run_id are required"},
		"unknown field":   {batch(`,"histroy":[]`), "unknown field"},
		"bad utf8":        {batch(`,"summary":{"k":"` + "\xff\xfe" + `"}`), "UTF-8"},
		"too deep":        {batch(`,"summary":{"k":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`), "nested deeper"},
		"trailing":        {append(batch(""), []byte(" {}")...), "trailing"},
		"bare NaN token":  {[]byte(`{"entity":NaNx}`), "malformed"},
		// Type errors name JSON types, not Go ones.
		"summary array":  {batch(`,"summary":[1]`), `field "summary" must be an object, not array`},
		"console object": {batch(`,"console":{}`), `field "console" must be an array, not object`},
		"console line":   {batch(`,"console":[{"line":5}]`), `must be a string, not number`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(tc.body)
			if !errors.Is(err, ErrBadBatch) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode = %v, want ErrBadBatch containing %q", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), "interface") || strings.Contains(err.Error(), "ingest.")) {
				t.Errorf("Decode = %v: a Go type name in a user's error", err)
			}
		})
	}
}

func TestDecodeRecordRejections(t *testing.T) {
	var many strings.Builder
	many.WriteString(`{`)
	for i := 0; i < MaxKeysPerRow+5; i++ {
		if i > 0 {
			many.WriteByte(',')
		}
		fmt.Fprintf(&many, `"k%d":%d`, i, i)
	}
	many.WriteString(`}`)
	d, err := Decode(batch(`,"history":[
		{"step":0,"values":{"ok":1}},
		{"step":1.5,"values":{"x":1}},
		{"step":-1,"values":{"x":1}},
		{"values":{"x":1}},
		{"step":2,"values":{}},
		{"step":3,"values":{"":1}},
		{"step":4,"values":{"a":{"b":1},"a.b":2}},
		{"step":5,"values":` + many.String() + `},
		{"step":6,"time":-5,"values":{"x":1}},
		{"step":7,"values":{"bad\u0001key":1}},
		{"step":8,"values":{"long":"` + strings.Repeat("x", MaxStringValue+1) + `"}}
	],"console":[{"stream":"stdweird","line":"x"},{"line":"fine"}],
	"system":[{"time":1,"values":{"cpu":"high"}},{"time":1,"values":{"cpu":NaN}},{"time":1,"values":{"cpu":5}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Batch.History) != 1 || len(d.Batch.Console) != 1 || len(d.Batch.System) != 1 {
		t.Errorf("kept history %d console %d system %d; want 1 each", len(d.Batch.History), len(d.Batch.Console), len(d.Batch.System))
	}
	wantRejected := []string{"history[1]", "history[2]", "history[3]", "history[4]", "history[5]", "history[6]", "history[7]",
		"history[8]", "history[9]", "history[10]", "console[0]", "system[0]", "system[1]"}
	if len(d.Rejected) != len(wantRejected) {
		t.Fatalf("rejected = %+v", d.Rejected)
	}
	for i, w := range wantRejected {
		if d.Rejected[i].Record != w || d.Rejected[i].Error == "" {
			t.Errorf("rejected[%d] = %+v, want %s", i, d.Rejected[i], w)
		}
	}
	if !strings.Contains(d.Rejected[6].Error, "at most") {
		t.Errorf("wide row message = %q", d.Rejected[6].Error)
	}
	if d.Records != 16 {
		t.Errorf("records = %d", d.Records)
	}
}

func TestSanitizeLeavesStringsAlone(t *testing.T) {
	in := []byte(`{"a":"NaN Infinity -Infinity \" NaN","b":NaN}`)
	out, err := sanitize(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":"NaN Infinity -Infinity \" NaN","b":` + nanJSON + `}`
	if string(out) != want {
		t.Errorf("sanitize = %s\nwant       %s", out, want)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(batch(`,"history":[{"step":1,"values":{"a":NaN,"b":{"c":[1,2]}}}]`))
	f.Add(batch(`,"summary":{"x":-Infinity},"console":[{"line":"hi"}]`))
	f.Add([]byte(`{"entity":"e"`))
	f.Add([]byte(`"\`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := Decode(body)
		if err != nil {
			if !errors.Is(err, ErrBadBatch) {
				t.Fatalf("error not wrapping ErrBadBatch: %v", err)
			}
			return
		}
		for _, r := range d.Batch.History {
			if len(r.Fields) == 0 || len(r.Fields) > MaxKeysPerRow || r.Step < 0 {
				t.Fatalf("accepted a bad row: %+v", r)
			}
			for _, fl := range r.Fields {
				if CheckKey(fl.Key) != nil {
					t.Fatalf("accepted bad key %q", fl.Key)
				}
			}
		}
		if got := len(d.Batch.History) + len(d.Batch.Console) + len(d.Batch.System) + len(d.Rejected); got > d.Records {
			t.Fatalf("more records out (%d) than in (%d)", got, d.Records)
		}
	})
}

func TestDecodeAlerts(t *testing.T) {
	alerts := `
		{"time":10.5,"title":"loss is NaN","text":"at step 7","level":"error","wait_ms":60000},
		{"title":"defaults"},
		{"title":"  ","text":"x"},
		{"title":"` + strings.Repeat("é", MaxAlertTitle+1) + `"},
		{"title":"t","text":"` + strings.Repeat("x", MaxAlertText+1) + `"},
		{"title":"t","level":"LOUD"},
		{"title":"t","wait_ms":-1},
		{"title":"t","time":-3}`
	_, err := Decode(batch(`,"alerts":[` + alerts + `,{"title":5}]`))
	if err == nil {
		t.Fatal("a title that is not a string must fail the batch")
	}
	if !strings.Contains(err.Error(), `field "alerts.title" must be a string, not number`) {
		t.Errorf("error = %v", err)
	}
	d, err := Decode(batch(`,"alerts":[` + alerts + `]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Alert{
		{Time: 10.5, Title: "loss is NaN", Text: "at step 7", Level: store.AlertError, WaitMS: 60000},
		{Title: "defaults", Level: store.AlertInfo},
	}
	if !reflect.DeepEqual(d.Batch.Alerts, want) {
		t.Errorf("alerts = %+v", d.Batch.Alerts)
	}
	msgs := []string{"title is empty", "title of 257 characters; at most 256", "text of 65537 bytes", `level "LOUD" must be INFO, WARN or ERROR`,
		"wait_ms -1 must be between 0", "time must be a finite"}
	if len(d.Rejected) != len(msgs) || d.Records != 8 {
		t.Fatalf("rejected = %+v (records %d)", d.Rejected, d.Records)
	}
	for i, m := range msgs {
		if d.Rejected[i].Record != fmt.Sprintf("alerts[%d]", i+2) || !strings.Contains(d.Rejected[i].Error, m) {
			t.Errorf("rejected[%d] = %+v, want %q", i, d.Rejected[i], m)
		}
	}
}
