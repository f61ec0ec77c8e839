package api

import (
	"fmt"
	"math"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/store"
)

// TestJSNumber pins numbers to what JavaScript's String(n) prints (checked in node 20).
func TestJSNumber(t *testing.T) {
	for f, want := range map[float64]string{
		0: "0", 1: "1", -2: "-2", 0.1: "0.1", 3e-4: "0.0003", 1e-6: "0.000001", 1.5e-7: "1.5e-7", 1e-7: "1e-7",
		123456789012: "123456789012", 1e20: "100000000000000000000", 1e21: "1e+21", 1.25e22: "1.25e+22",
		0.30000000000000004: "0.30000000000000004", 2.5: "2.5", -1e-9: "-1e-9", 5e-324: "5e-324",
		1.7976931348623157e308: "1.7976931348623157e+308", 100: "100", 12.5e3: "12500",
	} {
		if got := jsNumber(f); got != want {
			t.Errorf("jsNumber(%v) = %q, want %q", f, got, want)
		}
	}
	if jsNumber(math.Inf(-1)) != "-Infinity" {
		t.Error("-Inf")
	}
}

// TestGroupRunsPages groups across page boundaries, stops at max with
// truncated, and at an empty page (runs deleted while paging).
func TestGroupRunsPages(t *testing.T) {
	var runs []store.Run
	for i := 0; i < 7; i++ {
		runs = append(runs, store.Run{RunKey: store.RunKey{RunID: fmt.Sprint("r", i)}, State: []string{"a", "b"}[i%2]})
	}
	var asked [][2]int
	list := func(total int) func(offset, limit int) (store.RunPage, error) {
		return func(offset, limit int) (store.RunPage, error) {
			asked = append(asked, [2]int{offset, limit})
			end := min(offset+limit, len(runs))
			if offset >= end {
				return store.RunPage{Total: int64(total)}, nil
			}
			return store.RunPage{Runs: runs[offset:end], Total: int64(total)}, nil
		}
	}
	label := func(r store.Run) string { return r.State }
	ids := func(gs []*runGroupJSON) string {
		out := ""
		for _, g := range gs {
			out += fmt.Sprint(g.Label, g.Runs, ";")
		}
		return out
	}
	gs, total, cut, err := groupRuns(list(7), label, 3, 100)
	if err != nil || total != 7 || cut || ids(gs) != "a[r0 r2 r4 r6];b[r1 r3 r5];" {
		t.Errorf("pages of 3: %s total=%d cut=%v err=%v", ids(gs), total, cut, err)
	}
	if fmt.Sprint(asked) != "[[0 3] [3 3] [6 3]]" {
		t.Errorf("asked %v", asked)
	}
	asked = nil
	gs, total, cut, _ = groupRuns(list(7), label, 3, 5)
	if total != 7 || !cut || ids(gs) != "a[r0 r2 r4];b[r1 r3];" || fmt.Sprint(asked) != "[[0 3] [3 2]]" {
		t.Errorf("max 5: %s total=%d cut=%v asked=%v", ids(gs), total, cut, asked)
	}
	asked = nil
	gs, _, cut, _ = groupRuns(list(9), label, 4, 100) // says 9, has 7: the empty page ends it
	if cut || ids(gs) != "a[r0 r2 r4 r6];b[r1 r3 r5];" || fmt.Sprint(asked) != "[[0 4] [4 4] [7 4]]" {
		t.Errorf("short: %s cut=%v asked=%v", ids(gs), cut, asked)
	}
}
