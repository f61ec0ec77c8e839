package sqlite

import (
	"sync"
	"unsafe"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/history/chunk"
)

// runGens counts changes to each run's chunks. A compaction or seal makes
// its runs' counts odd before it changes any chunk and even again once it
// has committed or rolled back, so a reader that sees the same even count
// before and after its snapshot began knows the snapshot shows exactly the
// chunks of that generation, and may use what the cache holds for it.
// Only this process writes the database, so the counts see every change.
//
// Each run also remembers which chunks recent generations touched, so that
// a cache entry of an older generation keeps what still holds (a live run's
// compaction rewrites its tail chunk, not the million points before it).
type runGens struct {
	mu      sync.Mutex
	m       map[int64]*runGen
	changes int // held, all runs together
}

type runGen struct {
	gen     uint64
	since   uint64        // changes holds every touch after generation since
	changes []chunkChange // oldest first
}

type chunkChange struct {
	gen          uint64 // the generation it made
	key, minStep int64
}

// seriesChunk names one chunk.
type seriesChunk struct{ run, key, minStep int64 }

// maxChanges bounds the touches a run remembers, and maxAllChanges those
// of all runs together (32 bytes each); beyond, runs forget them and their
// cached series are read afresh at their next generation.
const (
	maxChanges    = 1024
	maxAllChanges = 1 << 15
)

func (g *runGens) get(run int64) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.m[run]; r != nil {
		return r.gen
	}
	return 0
}

// writing marks the start of a change to the runs' chunks.
func (g *runGens) writing(runs []int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[int64]*runGen{}
	}
	for _, run := range dedupe(runs) {
		r := g.m[run]
		if r == nil {
			r = &runGen{}
			g.m[run] = r
		}
		r.gen++
	}
}

// written marks its end, with the chunks it touched (dropped, written or
// rewritten, by min_step; whether or not it committed).
func (g *runGens) written(runs []int64, touched []seriesChunk) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, run := range dedupe(runs) {
		g.m[run].gen++
	}
	for _, c := range touched {
		r := g.m[c.run]
		r.changes = append(r.changes, chunkChange{gen: r.gen, key: c.key, minStep: c.minStep})
		g.changes++
		if n := len(r.changes); n > maxChanges {
			drop := n - maxChanges/2
			r.since = r.changes[drop-1].gen
			r.changes = append([]chunkChange(nil), r.changes[drop:]...)
			g.changes -= drop
		}
	}
	if g.changes > maxAllChanges {
		for _, r := range g.m {
			r.since, r.changes = r.gen, nil
		}
		g.changes = 0
	}
}

// touched returns the chunks of series key that generations after from,
// up to to, touched; false when the run no longer remembers them all.
func (g *runGens) touched(run, key int64, from, to uint64) (map[int64]bool, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.m[run]
	if r == nil || from < r.since {
		return nil, false
	}
	out := map[int64]bool{}
	for _, c := range r.changes {
		if c.gen > from && c.gen <= to && c.key == key {
			out[c.minStep] = true
		}
	}
	return out, true
}

func dedupe(runs []int64) []int64 {
	seen := make(map[int64]bool, len(runs))
	out := runs[:0:0]
	for _, r := range runs {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// m4Block is what a chart needs of a block summary: its first, minimum,
// maximum and last points (in that order; 104 bytes against a full
// summary's 168) and its count. finite says every value is finite, so the
// four points are all M4 keeps of the block.
type m4Block struct {
	steps  [4]int64
	times  [4]float64
	values [4]float64
	count  int64
	finite bool
}

func (b *m4Block) first() int64 { return b.steps[0] }
func (b *m4Block) last() int64  { return b.steps[3] }

// point returns the block's first (0), minimum (1), maximum (2) or last
// (3) point.
func (b *m4Block) point(i int) history.Point {
	return history.Point{Step: b.steps[i], Time: b.times[i], Value: history.NumberValue(b.values[i])}
}

func toM4(ss []chunk.Summary) []m4Block {
	out := make([]m4Block, len(ss))
	for i, s := range ss {
		out[i] = m4Block{
			steps:  [4]int64{s.FirstStep, s.MinStep, s.MaxStep, s.LastStep},
			times:  [4]float64{s.FirstTime, s.MinTime, s.MaxTime, s.LastTime},
			values: [4]float64{s.First, s.Min, s.Max, s.Last},
			count:  s.Count,
			finite: s.Finite == s.Count,
		}
	}
	return out
}

type seriesKey struct{ run, key int64 }

// partKey names a block's split into buckets: the edges that cut it (none
// for a whole block), which fix its parts.
type partKey struct {
	chunk               int64
	idx, buckets        int32
	firstEdge, lastEdge int64
}

// part is a block's share of one bucket, reduced (history.Reduce); or,
// for a block cut by a range end (buckets -1 in its key), its points in
// the range, raw.
type part struct {
	pts   []m4Point
	count int64
}

// m4Point is a numeric point, half the size of a history.Point.
type m4Point struct {
	step        int64
	time, value float64
}

func toM4Points(pts []history.Point) []m4Point {
	out := make([]m4Point, len(pts))
	for i, p := range pts {
		out[i] = m4Point{p.Step, p.Time, p.Value.Num}
	}
	return out
}

// partsSize is roughly what a map entry of parts costs, in bytes.
func partsSize(ps []part) int {
	n := 96 // key, slice header, map slot
	for _, p := range ps {
		n += 32 + 24*len(p.pts)
	}
	return n
}

// maxParts bounds the reduced parts one series keeps: a full-range chart
// of a long series needs about one per bucket edge.
const maxParts = 1 << 13

// chartCacheBytes bounds what the cache holds, all series together: block
// summaries take 104 bytes per 256 points (so 64 MB alone would hold 160M
// points' worth), reduced parts about 150 bytes per bucket edge.
const chartCacheBytes = 96 << 20

// chartCache keeps, per series, the chunk list, decoded block summaries and
// reduced block parts of one generation, evicting the least recently used
// series beyond chartCacheBlocks.
type chartCache struct {
	mu      sync.Mutex
	entries map[seriesKey]*seriesEntry
	bytes   int
	tick    uint64
}

type seriesEntry struct {
	key   seriesKey
	gen   uint64
	used  uint64 // chartCache.tick at last use; under chartCache.mu
	bytes int    // its size, as charged; under chartCache.mu

	mu      sync.Mutex // guards the rest
	listed  bool
	chunks  []cachedChunk
	carried map[int64]cachedChunk // from an older entry, until listed
	split   map[partKey][]part
}

type cachedChunk struct {
	minStep, maxStep int64
	blocks           []m4Block // nil until read
}

// entry returns the cache entry of series k for generation gen: the one
// held, or a new one that keeps what an older one held of the chunks that
// generations since did not touch; nil if the cache holds a newer one (the
// caller's snapshot is older than the cache).
func (c *chartCache) entry(k seriesKey, gen uint64, gens *runGens) *seriesEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	e := c.entries[k]
	switch {
	case e != nil && e.gen == gen:
	case e != nil && e.gen > gen:
		return nil
	default:
		if c.entries == nil {
			c.entries = map[seriesKey]*seriesEntry{}
		}
		ne := &seriesEntry{key: k, gen: gen}
		if e != nil {
			c.bytes -= e.bytes
			if touched, ok := gens.touched(k.run, k.key, e.gen, gen); ok {
				ne.bytes = e.carryTo(ne, touched)
				c.bytes += ne.bytes
			}
		}
		e = ne
		c.entries[k] = e
	}
	e.used = c.tick
	return e
}

// carryTo gives ne what e holds of chunks not in touched, and returns its
// size in bytes.
func (e *seriesEntry) carryTo(ne *seriesEntry, touched map[int64]bool) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, cc := range e.chunks {
		if cc.blocks != nil && !touched[cc.minStep] {
			if ne.carried == nil {
				ne.carried = map[int64]cachedChunk{}
			}
			ne.carried[cc.minStep] = cc
			n += len(cc.blocks) * int(unsafe.Sizeof(m4Block{}))
		}
	}
	for pk, p := range e.split {
		if !touched[pk.chunk] {
			if ne.split == nil {
				ne.split = map[partKey][]part{}
			}
			ne.split[pk] = p
			n += partsSize(p)
		}
	}
	return n
}

// grew accounts for n more bytes held by e (fewer, when negative),
// evicting the least recently used series while over budget. An evicted
// entry stays usable by charts that hold it; it is simply no longer found.
func (c *chartCache) grew(e *seriesEntry, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[e.key] != e {
		return
	}
	e.bytes += n
	c.bytes += n
	for c.bytes > chartCacheBytes && len(c.entries) > 1 {
		var oldest *seriesEntry
		for _, o := range c.entries {
			if o != e && (oldest == nil || o.used < oldest.used) {
				oldest = o
			}
		}
		c.bytes -= oldest.bytes
		delete(c.entries, oldest.key)
	}
}

func (e *seriesEntry) parts(k partKey) ([]part, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.split[k]
	return p, ok
}

// addParts keeps the parts of a block and returns the change in the
// entry's size, for chartCache.grew.
func (e *seriesEntry) addParts(k partKey, p []part) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	if e.split == nil || len(e.split) >= maxParts {
		for _, old := range e.split {
			n -= partsSize(old)
		}
		e.split = map[partKey][]part{}
	}
	e.split[k] = p
	return n + partsSize(p)
}
