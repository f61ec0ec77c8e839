package sqlite

import "testing"

// TestRunGensTouched checks the chunk-change log that lets a chart cache
// entry of an older generation keep untouched chunks: what it reports, and
// that it refuses once it has forgotten changes.
func TestRunGensTouched(t *testing.T) {
	var g runGens
	write := func(run int64, touched ...seriesChunk) {
		g.writing([]int64{run, run})
		if gen := g.get(run); gen%2 != 1 {
			t.Fatalf("generation %d during a write, want odd", gen)
		}
		g.written([]int64{run}, touched)
	}
	write(1, seriesChunk{1, 10, 0}, seriesChunk{1, 11, 0})
	g0 := g.get(1)
	write(1, seriesChunk{1, 10, 4096}, seriesChunk{1, 10, 8192})
	write(2, seriesChunk{2, 10, 0})
	write(1, seriesChunk{1, 11, 4096})
	if g.get(1) != g0+4 || g.get(2) != 2 {
		t.Fatalf("generations %d, %d", g.get(1), g.get(2))
	}
	got, ok := g.touched(1, 10, g0, g.get(1))
	if !ok || len(got) != 2 || !got[4096] || !got[8192] {
		t.Errorf("touched(key 10) = %v, %v; want chunks 4096 and 8192", got, ok)
	}
	if got, ok := g.touched(1, 10, g0+2, g.get(1)); !ok || len(got) != 0 {
		t.Errorf("touched(key 10, after its changes) = %v, %v; want none", got, ok)
	}
	// Past the bound on all runs' changes, older generations cannot carry.
	for i := 0; i <= maxAllChanges/maxChanges*2+2; i++ {
		var many []seriesChunk
		for j := 0; j < maxChanges/2; j++ {
			many = append(many, seriesChunk{int64(100 + i), 1, int64(j)})
		}
		write(int64(100+i), many...)
	}
	if _, ok := g.touched(1, 10, g0, g.get(1)); ok {
		t.Error("touched after the log was cleared: want false")
	}
	if _, ok := g.touched(1, 10, g.get(1), g.get(1)); !ok {
		t.Error("touched from the current generation: want true")
	}
}
