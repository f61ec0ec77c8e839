package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"unsafe"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/history/chunk"
)

// A chart is exact M4: the same points as adding every point of the range
// to a history.Downsampler, at a cost that depends on the buckets rather
// than on the points. Each block of a chunk (chunk.BlockSize points) is fed
// to the downsampler in one of three ways:
//
//   - a block inside one bucket, with only finite values, by its summary
//     (first, last, minimum, maximum: all M4 keeps of it);
//   - a block that straddles bucket edges, or holds NaN or ±Inf, by its
//     share of each bucket reduced to the few points M4 keeps
//     (history.Reduce). That needs the chunk decoded once; the reduced
//     parts are cached, so the next chart with the same bucket edges (a
//     refresh, another user) decodes nothing;
//   - a block that straddles an end of the range or overlaps points not
//     yet compacted, as its points, merged with those.
//
// Summaries, the chunk list and reduced parts live in chartCache, valid for
// one generation of their run's chunks (runGens).

// blockRef is one block of a chunk, as a chart sees it.
type blockRef struct {
	*m4Block
	chunk int64 // min_step of its chunk
	ord   int   // its chunk's position among the chart's chunks
	idx   int   // its position in the chunk, in blocks
}

// chunkView is the blocks of one chunk that overlap a chart's range.
type chunkView struct {
	minStep int64
	first   int // position of blocks[0] in the chunk
	blocks  []m4Block
}

// each calls fn for every block of views, in step order.
func each(views []chunkView, fn func(b blockRef) error) error {
	for ord, v := range views {
		for i := range v.blocks {
			if err := fn(blockRef{m4Block: &v.blocks[i], chunk: v.minStep, ord: ord, idx: v.first + i}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Chart implements history.Charter: the series in r reduced to about limit
// points, M4-style, exactly as a history.Downsampler fed every point in r
// would, with the buckets spanning the first to the last point in r.
func (db *DB) Chart(ctx context.Context, runPK int64, key string, r history.Range, limit int) (history.Chart, error) {
	var out history.Chart
	gen := db.gens.get(runPK)
	sr, err := db.openSeries(ctx, runPK, key)
	if err != nil {
		return out, err
	}
	defer sr.close()
	if !sr.found {
		return out, nil
	}
	// The snapshot began in openSeries: when no compaction of this run
	// started or ended around it, it shows the chunks of generation gen.
	var ent *seriesEntry
	if after := db.gens.get(runPK); after == gen && gen%2 == 0 {
		ent = db.charts.entry(seriesKey{runPK, sr.keyID}, gen, &db.gens)
	}
	logPts, err := sr.logPoints(r)
	if err != nil {
		return out, err
	}
	rowPts, err := sr.valueRows(r, false)
	if err != nil {
		return out, err
	}
	views, stash, err := sr.chartBlocks(r, ent, &db.charts, max(limit, 4)/4)
	if err != nil {
		return out, fmt.Errorf("chart %q: %w", key, err)
	}
	c := &charter{sr: sr, r: r, ent: ent, cache: &db.charts, stash: stash}
	defer c.closeRows()
	// Blocks cut by the range ends or overlapped by uncompacted points turn
	// into loose points, merged with those (which win at equal steps).
	small := rawPoints(chunk.Points{}, rowPts, logPts)
	loosen := func(b blockRef) bool {
		return b.first() < r.Min || b.last() > r.Max || overlapsPoints(small, b.first(), b.last())
	}
	var loosePts chunk.Points
	var total int64
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	err = each(views, func(b blockRef) error {
		if !loosen(b) {
			total += b.count
			lo, hi = min(lo, b.first()), max(hi, b.last())
			return nil
		}
		in, err := c.inRange(b)
		if err != nil {
			return err
		}
		loosePts.Steps = append(loosePts.Steps, in.Steps...)
		loosePts.Times = append(loosePts.Times, in.Times...)
		loosePts.Values = append(loosePts.Values, in.Values...)
		return nil
	})
	if err != nil {
		return out, err
	}
	loose := rawPoints(loosePts, small, nil)
	total += int64(len(loose))
	if total == 0 {
		return out, nil
	}
	if len(loose) > 0 {
		lo, hi = min(lo, loose[0].Step), max(hi, loose[len(loose)-1].Step)
	}
	ds := history.NewDownsampler(lo, hi, limit)
	if total <= int64(max(limit, 4)) { // as the downsampler raises it
		// Few points: all of them, as they are.
		var all chunk.Points
		err = each(views, func(b blockRef) error {
			if loosen(b) {
				return nil
			}
			pts, err := c.blockPoints(b)
			all.Steps = append(all.Steps, pts.Steps...)
			all.Times = append(all.Times, pts.Times...)
			all.Values = append(all.Values, pts.Values...)
			return err
		})
		for _, p := range rawPoints(all, loose, nil) {
			ds.Add(p)
		}
	} else {
		ds.StartSampled()
		li := 0
		err = each(views, func(b blockRef) error {
			if loosen(b) {
				return nil
			}
			for li < len(loose) && loose[li].Step < b.first() {
				ds.Add(loose[li])
				li++
			}
			return c.feed(ds, b)
		})
		for ; li < len(loose); li++ {
			ds.Add(loose[li])
		}
	}
	if err != nil {
		return out, err
	}
	out.Points = ds.Points()
	if err := sr.fillText(out.Points); err != nil {
		return out, err
	}
	out.Total = ds.Total()
	out.Sampled = ds.Sampled()
	return out, nil
}

// overlapsPoints reports whether a point of pts (in step order) lies in
// [lo, hi].
func overlapsPoints(pts []history.Point, lo, hi int64) bool {
	i := sort.Search(len(pts), func(i int) bool { return pts[i].Step >= lo })
	return i < len(pts) && pts[i].Step <= hi
}

// charter holds one chart's current chunk, read by a chunk.Reader: its
// steps and times decoded once, its values a block at a time as the chart
// needs them (the blocks bucket edges cut); the next chunk reuses the same
// memory (what blockPoints returned is valid until the next chunk's).
type charter struct {
	sr     *seriesReader
	r      history.Range
	ent    *seriesEntry
	cache  *chartCache
	rows   *sql.Rows // chunk data, read along the series
	rowOrd int       // position (ord) of the row rows last returned
	stash  map[int64][]byte
	rd     chunk.Reader // reads the chunk bytes rows last returned (or a stash entry) in place
	decAt  int64
	has    bool
}

// blockPoints returns the decoded points of block b.
func (c *charter) blockPoints(b blockRef) (chunk.Points, error) {
	if !c.has || c.decAt != b.chunk {
		c.has = false
		if err := c.decode(b); err != nil {
			return chunk.Points{}, fmt.Errorf("chunk at %d: %w", b.chunk, err)
		}
		c.decAt, c.has = b.chunk, true
	}
	pts, err := c.rd.Block(b.idx)
	if err != nil {
		return pts, fmt.Errorf("chunk at %d: %w", b.chunk, err)
	}
	if pts.Steps[0] != b.first() || pts.Steps[pts.Len()-1] != b.last() {
		return chunk.Points{}, fmt.Errorf("chunk at %d: block %d does not match its summary", b.chunk, b.idx)
	}
	return pts, nil
}

// decode points c.rd at the chunk of b. The bytes stay where the driver
// returned them: rows moves on only here, to the next chunk. Chunks are read by walking a
// cursor along the series rather than by a lookup each: SQLite compares a
// lookup's key with whole rows of this table, overflow pages included, so
// each lookup would read two or three chunks' data besides its own. A
// cursor is moved on over at most maxSkip chunks the chart does not need,
// else reopened where it is needed.
func (c *charter) decode(b blockRef) error {
	if data, ok := c.stash[b.chunk]; ok {
		return c.rd.Reset(data)
	}
	const maxSkip = 1
	if c.rows != nil && (b.ord <= c.rowOrd || b.ord-c.rowOrd-1 > maxSkip) {
		c.closeRows()
	}
	if c.rows == nil {
		rows, err := c.sr.query(`SELECT min_step, data FROM hist_chunks WHERE run_id = ? AND key_id = ? AND min_step >= ? AND min_step <= ?
			ORDER BY min_step`, c.sr.run, c.sr.keyID, b.chunk, c.r.Max)
		if err != nil {
			return fmt.Errorf("read chunks: %w", err)
		}
		c.rows, c.rowOrd = rows, b.ord-1
	}
	for c.rows.Next() {
		c.rowOrd++
		var minStep int64
		var data sql.RawBytes // read where the driver holds it, not copied
		if err := c.rows.Scan(&minStep, &data); err != nil {
			return fmt.Errorf("read chunks: %w", err)
		}
		if minStep == b.chunk {
			return c.rd.Reset(data)
		}
		if minStep > b.chunk {
			break
		}
	}
	err := c.rows.Err()
	c.closeRows()
	if err != nil {
		return fmt.Errorf("read chunks: %w", err)
	}
	return fmt.Errorf("read chunks: chunk missing")
}

func (c *charter) closeRows() {
	if c.rows != nil {
		c.rows.Close()
		c.rows = nil
	}
}

// inRange returns the points of block b inside the chart's range. A block
// cut by a range end keeps them in the cache (a zoomed chart asked again
// decodes nothing).
func (c *charter) inRange(b blockRef) (chunk.Points, error) {
	k := partKey{chunk: b.chunk, idx: int32(b.idx), buckets: -1, firstEdge: c.r.Min, lastEdge: c.r.Max}
	if c.ent != nil {
		if parts, ok := c.ent.parts(k); ok {
			var in chunk.Points
			for _, p := range parts[0].pts {
				in.Steps = append(in.Steps, p.step)
				in.Times = append(in.Times, p.time)
				in.Values = append(in.Values, p.value)
			}
			return in, nil
		}
	}
	pts, err := c.blockPoints(b)
	if err != nil {
		return pts, err
	}
	i := sort.Search(pts.Len(), func(i int) bool { return pts.Steps[i] >= c.r.Min })
	j := sort.Search(pts.Len(), func(i int) bool { return pts.Steps[i] > c.r.Max })
	in := chunk.Points{Steps: pts.Steps[i:j:j], Times: pts.Times[i:j:j], Values: pts.Values[i:j:j]}
	if c.ent != nil && (b.first() < c.r.Min || b.last() > c.r.Max) {
		cp := make([]m4Point, in.Len()) // a copy: the decoded chunk is not kept
		for i := range cp {
			cp[i] = m4Point{in.Steps[i], in.Times[i], in.Values[i]}
		}
		c.cache.grew(c.ent, c.ent.addParts(k, []part{{pts: cp, count: int64(len(cp))}}))
	}
	return in, nil
}

// feed adds block b, which lies inside the range and overlaps no loose
// point, to ds (sampled).
func (c *charter) feed(ds *history.Downsampler, b blockRef) error {
	fb, lb := ds.Bucket(b.first()), ds.Bucket(b.last())
	if fb == lb && b.finite {
		ds.AddFinite(b.point(0), b.point(1), b.point(2), b.point(3), b.count)
		return nil
	}
	k := partKey{chunk: b.chunk, idx: int32(b.idx), buckets: int32(lb - fb), firstEdge: math.MinInt64, lastEdge: math.MinInt64}
	if lb > fb {
		k.firstEdge, k.lastEdge = ds.BucketStart(fb+1), ds.BucketStart(lb)
	}
	if c.ent != nil {
		if parts, ok := c.ent.parts(k); ok {
			for _, p := range parts {
				var buf [7]history.Point
				pts := buf[:0]
				for _, q := range p.pts {
					pts = append(pts, history.Point{Step: q.step, Time: q.time, Value: history.NumberValue(q.value)})
				}
				ds.AddReduced(pts, p.count)
			}
			return nil
		}
	}
	pts, err := c.blockPoints(b)
	if err != nil {
		return err
	}
	parts := make([]part, 0, lb-fb+1)
	for i := 0; i < pts.Len(); {
		bk := ds.Bucket(pts.Steps[i])
		j := i + sort.Search(pts.Len()-i, func(j int) bool { return ds.Bucket(pts.Steps[i+j]) != bk })
		red := history.Reduce(pts.Steps[i:j], pts.Times[i:j], pts.Values[i:j])
		ds.AddReduced(red, int64(j-i))
		parts = append(parts, part{pts: toM4Points(red), count: int64(j - i)})
		i = j
	}
	if c.ent != nil {
		c.cache.grew(c.ent, c.ent.addParts(k, parts))
	}
	return nil
}

// chartBlocks returns the blocks of the series that overlap r, in step
// order: from ent when it holds them, else read (and kept in ent). When it
// reads the summaries of many chunks and the chart has enough buckets that
// about every chunk holds a bucket edge (a cold chart), it reads their data
// in the same pass, by min_step: the summaries sit on the first overflow
// pages of the data, and a second pass would read those again.
func (sr *seriesReader) chartBlocks(r history.Range, ent *seriesEntry, cache *chartCache, buckets int) ([]chunkView, map[int64][]byte, error) {
	const maxStash = 512 // chunks: 512 × ≤ ~32 KB
	if ent == nil {
		rows, err := sr.chunks(r, withSummaries)
		if err != nil {
			return nil, nil, err
		}
		var out []chunkView
		for _, row := range rows {
			ss, err := chunk.DecodeSummaries(row.summaries)
			if err != nil {
				return nil, nil, fmt.Errorf("chunk at %d: %w", row.minStep, err)
			}
			out = appendBlocks(out, row.minStep, toM4(ss), r)
		}
		return out, nil, nil
	}
	// Summaries read now are charged to the cache once ent.mu is released.
	added := 0
	var stash map[int64][]byte
	defer func() { cache.grew(ent, added*int(unsafe.Sizeof(m4Block{}))) }()
	ent.mu.Lock()
	defer ent.mu.Unlock()
	if !ent.listed {
		list, err := sr.chunkList()
		if err != nil {
			return nil, nil, err
		}
		// Chunks no generation since an older entry touched are the same
		// chunks: same bounds, same summaries.
		for i := range list {
			if cc, ok := ent.carried[list[i].minStep]; ok && cc.maxStep == list[i].maxStep {
				list[i].blocks = cc.blocks
			}
		}
		ent.chunks, ent.listed, ent.carried = list, true, nil
	}
	// The chunks overlapping r, and which of them still need summaries.
	from := sort.Search(len(ent.chunks), func(i int) bool { return ent.chunks[i].maxStep >= r.Min })
	to := from
	var missing []int
	for to < len(ent.chunks) && ent.chunks[to].minStep <= r.Max {
		if ent.chunks[to].blocks == nil {
			missing = append(missing, to)
		}
		to++
	}
	fill := func(cc *cachedChunk, summaries []byte) error {
		ss, err := chunk.DecodeSummaries(summaries)
		if err != nil {
			return fmt.Errorf("chunk at %d: %w", cc.minStep, err)
		}
		cc.blocks = toM4(ss)
		added += len(cc.blocks)
		return nil
	}
	switch {
	case len(missing) == 0:
	case len(missing) <= 8:
		// A few (a live run's rewritten tail): one by one.
		for _, i := range missing {
			cc := &ent.chunks[i]
			var summaries []byte
			if err := sr.queryRow(`SELECT summaries FROM hist_chunks WHERE run_id = ? AND key_id = ? AND min_step = ?`,
				sr.run, sr.keyID, cc.minStep).Scan(&summaries); err != nil {
				return nil, nil, fmt.Errorf("read chunk summaries: %w", err)
			}
			if err := fill(cc, summaries); err != nil {
				return nil, nil, err
			}
		}
	default:
		cols := withSummaries
		if n := to - from; n <= maxStash && 2*buckets >= n {
			cols |= withData
			stash = make(map[int64][]byte, n)
		}
		rows, err := sr.chunks(r, cols)
		if err != nil {
			return nil, nil, err
		}
		if len(rows) != to-from {
			return nil, nil, fmt.Errorf("read chunks: %d rows, want %d", len(rows), to-from)
		}
		for i, row := range rows {
			cc := &ent.chunks[from+i]
			if cc.minStep != row.minStep {
				return nil, nil, fmt.Errorf("read chunks: chunk at %d, want %d", row.minStep, cc.minStep)
			}
			if stash != nil {
				stash[row.minStep] = row.data
			}
			if cc.blocks == nil {
				if err := fill(cc, row.summaries); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	var out []chunkView
	for i := from; i < to; i++ {
		out = appendBlocks(out, ent.chunks[i].minStep, ent.chunks[i].blocks, r)
	}
	return out, stash, nil
}

func appendBlocks(out []chunkView, chunkMin int64, bs []m4Block, r history.Range) []chunkView {
	i := sort.Search(len(bs), func(i int) bool { return bs[i].last() >= r.Min })
	j := sort.Search(len(bs), func(j int) bool { return bs[j].first() > r.Max })
	if i < j {
		out = append(out, chunkView{minStep: chunkMin, first: i, blocks: bs[i:j]})
	}
	return out
}

// chunkList lists the series' chunks without their summaries or data.
func (sr *seriesReader) chunkList() ([]cachedChunk, error) {
	rows, err := sr.query(`SELECT min_step, max_step FROM hist_chunks
		WHERE run_id = ? AND key_id = ? ORDER BY min_step`, sr.run, sr.keyID)
	if err != nil {
		return nil, fmt.Errorf("list chunks: %w", err)
	}
	defer rows.Close()
	var out []cachedChunk
	for rows.Next() {
		var c cachedChunk
		if err := rows.Scan(&c.minStep, &c.maxStep); err != nil {
			return nil, fmt.Errorf("list chunks: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list chunks: %w", err)
	}
	return out, nil
}
