package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/history/chunk"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// seriesReader reads one series inside a read transaction, so that chunks,
// the write log and value rows form one consistent snapshot even while the
// compactor moves points from the log into chunks.
type seriesReader struct {
	ctx   context.Context
	tx    *sql.Tx
	run   int64
	keyID int64
	found bool
}

func (db *DB) openSeries(ctx context.Context, runPK int64, key string) (*seriesReader, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read history: begin: %w", err)
	}
	sr := &seriesReader{ctx: ctx, tx: tx, run: runPK}
	err = tx.QueryRowContext(ctx, `SELECT k.id FROM metric_keys k JOIN runs r ON r.project_id = k.project_id
		WHERE r.id = ? AND k.name = ?`, runPK, key).Scan(&sr.keyID)
	switch {
	case err == sql.ErrNoRows:
	case err != nil:
		tx.Rollback()
		return nil, fmt.Errorf("read history %q: %w", key, err)
	default:
		sr.found = true
	}
	return sr, nil
}

func (sr *seriesReader) close() { sr.tx.Rollback() }

// logPoints returns the series' points still in the write log, in range,
// newest last (a later point at the same step wins).
func (sr *seriesReader) logPoints(r history.Range) ([]logPoint, error) {
	rows, err := sr.tx.QueryContext(sr.ctx, `SELECT payload FROM hist_log WHERE run_id = ? ORDER BY id`, sr.run)
	if err != nil {
		return nil, fmt.Errorf("read history log: %w", err)
	}
	defer rows.Close()
	var out []logPoint
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			return nil, fmt.Errorf("read history log: %w", err)
		}
		err := decodeLog(payload, func(key int64, pts []logPoint) {
			if key != sr.keyID {
				return
			}
			for _, p := range pts {
				if p.step >= r.Min && p.step <= r.Max {
					out = append(out, p)
				}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}

type chunkRow struct {
	minStep, maxStep int64
	count            int64
	data, summaries  []byte
}

// chunks returns the chunks overlapping r; data is read only if withData.
func (sr *seriesReader) chunks(r history.Range, withData bool) ([]chunkRow, error) {
	cols := "min_step, max_step, count, summaries, x''"
	if withData {
		cols = "min_step, max_step, count, x'', data"
	}
	rows, err := sr.tx.QueryContext(sr.ctx, `SELECT `+cols+` FROM hist_chunks
		WHERE run_id = ? AND key_id = ? AND max_step >= ? AND min_step <= ? ORDER BY min_step`, sr.run, sr.keyID, r.Min, r.Max)
	if err != nil {
		return nil, fmt.Errorf("read chunks: %w", err)
	}
	defer rows.Close()
	var out []chunkRow
	for rows.Next() {
		var c chunkRow
		if err := rows.Scan(&c.minStep, &c.maxStep, &c.count, &c.summaries, &c.data); err != nil {
			return nil, fmt.Errorf("read chunks: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (sr *seriesReader) chunkData(minStep int64) (chunk.Points, error) {
	var data []byte
	if err := sr.tx.QueryRowContext(sr.ctx, `SELECT data FROM hist_chunks WHERE run_id = ? AND key_id = ? AND min_step = ?`,
		sr.run, sr.keyID, minStep).Scan(&data); err != nil {
		return chunk.Points{}, fmt.Errorf("read chunk: %w", err)
	}
	return chunk.Decode(data)
}

// valueRows returns points stored one row each (non-numeric values, and
// numbers written before the chunk engine), in step order. Without text,
// strings and JSON values come back empty (fillText reads them later): a
// chart of a media key keeps one value per bucket and need not read the
// others, each up to 1 MiB.
func (sr *seriesReader) valueRows(r history.Range, withText bool) ([]history.Point, error) {
	txt := "txt"
	if !withText {
		txt = "NULL"
	}
	rows, err := sr.tx.QueryContext(sr.ctx, `SELECT step, wall, kind, num, `+txt+` FROM history
		WHERE run_id = ? AND key_id = ? AND step >= ? AND step <= ? ORDER BY step`, sr.run, sr.keyID, r.Min, r.Max)
	if err != nil {
		return nil, fmt.Errorf("read history rows: %w", err)
	}
	defer rows.Close()
	var out []history.Point
	for rows.Next() {
		var p history.Point
		var kind int
		var num sql.NullFloat64
		var txt sql.NullString
		if err := rows.Scan(&p.Step, &p.Time, &kind, &num, &txt); err != nil {
			return nil, fmt.Errorf("read history rows: %w", err)
		}
		switch kind {
		case kindNumber:
			p.Value = history.NumberValue(num.Float64)
		case kindNaN:
			p.Value = history.NumberValue(math.NaN())
		case kindBool:
			p.Value = history.Value{Kind: history.Bool, Num: num.Float64}
		case kindJSON:
			p.Value = history.Value{Kind: history.JSON, Text: txt.String}
		default:
			p.Value = history.Value{Kind: history.String, Text: txt.String}
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// fillText reads the text of the string and JSON points in pts, which
// came from valueRows without text.
func (sr *seriesReader) fillText(pts []history.Point) error {
	var st *sql.Stmt
	for i := range pts {
		if k := pts[i].Value.Kind; k != history.String && k != history.JSON {
			continue
		}
		if st == nil {
			var err error
			st, err = sr.tx.PrepareContext(sr.ctx, `SELECT txt FROM history WHERE run_id = ? AND key_id = ? AND step = ?`)
			if err != nil {
				return fmt.Errorf("read history values: %w", err)
			}
			defer st.Close()
		}
		var txt sql.NullString
		if err := st.QueryRowContext(sr.ctx, sr.run, sr.keyID, pts[i].Step).Scan(&txt); err != nil {
			return fmt.Errorf("read history value at step %d: %w", pts[i].Step, err)
		}
		pts[i].Value.Text = txt.String
	}
	return nil
}

// rawPoints merges decoded chunk points, value rows and log points (in rising
// precedence at equal steps) into one step-ordered list. Chunk points and
// value rows arrive sorted; log points in arrival order, where the later of
// two at one step wins.
func rawPoints(chunkPts chunk.Points, rowPts []history.Point, logPts []logPoint) []history.Point {
	if len(logPts) > 1 {
		sort.SliceStable(logPts, func(i, j int) bool { return logPts[i].step < logPts[j].step })
		w := 0
		for i, p := range logPts {
			if i+1 < len(logPts) && logPts[i+1].step == p.step {
				continue // a later point at the same step wins
			}
			logPts[w] = p
			w++
		}
		logPts = logPts[:w]
	}
	out := make([]history.Point, 0, chunkPts.Len()+len(rowPts)+len(logPts))
	ci, ri, li := 0, 0, 0
	const none = math.MaxInt64
	for ci < chunkPts.Len() || ri < len(rowPts) || li < len(logPts) {
		cs, rs, ls := int64(none), int64(none), int64(none)
		if ci < chunkPts.Len() {
			cs = chunkPts.Steps[ci]
		}
		if ri < len(rowPts) {
			rs = rowPts[ri].Step
		}
		if li < len(logPts) {
			ls = logPts[li].step
		}
		step := min(cs, rs, ls)
		switch {
		case ls == step:
			out = append(out, history.Point{Step: step, Time: logPts[li].time, Value: history.NumberValue(logPts[li].value)})
		case rs == step:
			out = append(out, rowPts[ri])
		default:
			out = append(out, history.Point{Step: step, Time: chunkPts.Times[ci], Value: history.NumberValue(chunkPts.Values[ci])})
		}
		if cs == step {
			ci++
		}
		if rs == step {
			ri++
		}
		if ls == step {
			li++
		}
	}
	return out
}

// walk visits a series in r chunk by chunk, in step order: for each chunk,
// its decoded points within r, and the uncompacted points (write log, value
// rows) that fall before the chunk's end and after the previous one's; a
// last call with no chunk takes the rest. Memory stays at one chunk plus the
// (short) write log.
func (db *DB) walk(ctx context.Context, runPK int64, key string, r history.Range, withText bool,
	visit func(pts chunk.Points, rows []history.Point, logs []logPoint) error) error {
	sr, err := db.openSeries(ctx, runPK, key)
	if err != nil {
		return err
	}
	defer sr.close()
	if !sr.found {
		return nil
	}
	logPts, err := sr.logPoints(r)
	if err != nil {
		return err
	}
	rowPts, err := sr.valueRows(r, withText)
	if err != nil {
		return err
	}
	chunks, err := sr.chunks(r, true)
	if err != nil {
		return err
	}
	sort.SliceStable(logPts, func(i, j int) bool { return logPts[i].step < logPts[j].step })
	li, ri := 0, 0
	emit := func(upTo int64, pts chunk.Points) error {
		lo := sort.Search(pts.Len(), func(i int) bool { return pts.Steps[i] >= r.Min })
		hi := sort.Search(pts.Len(), func(i int) bool { return pts.Steps[i] > r.Max })
		in := chunk.Points{Steps: pts.Steps[lo:hi], Times: pts.Times[lo:hi], Values: pts.Values[lo:hi]}
		lj := li
		for lj < len(logPts) && logPts[lj].step <= upTo {
			lj++
		}
		rj := ri
		for rj < len(rowPts) && rowPts[rj].Step <= upTo {
			rj++
		}
		rows, logs := rowPts[ri:rj], logPts[li:lj]
		li, ri = lj, rj
		return visit(in, rows, logs)
	}
	for _, c := range chunks {
		pts, err := chunk.Decode(c.data)
		if err != nil {
			return fmt.Errorf("scan %q: chunk at %d: %w", key, c.minStep, err)
		}
		if err := emit(c.maxStep, pts); err != nil {
			return err
		}
	}
	return emit(math.MaxInt64, chunk.Points{})
}

// Scan implements history.Reader: every point of the series in r, in step
// order.
func (db *DB) Scan(ctx context.Context, runPK int64, key string, r history.Range, fn func(history.Point) error) error {
	return db.walk(ctx, runPK, key, r, true, func(pts chunk.Points, rows []history.Point, logs []logPoint) error {
		for _, p := range rawPoints(pts, rows, logs) {
			if err := fn(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// ScanSteps implements history.StepScanner: the steps and times of the
// series in r, in step order, without reading string or JSON values.
func (db *DB) ScanSteps(ctx context.Context, runPK int64, key string, r history.Range, fn func(step int64, time float64) error) error {
	return db.walk(ctx, runPK, key, r, false, func(pts chunk.Points, rows []history.Point, logs []logPoint) error {
		for _, p := range rawPoints(pts, rows, logs) {
			if err := fn(p.Step, p.Time); err != nil {
				return err
			}
		}
		return nil
	})
}

// Chart implements history.Charter: the series in r reduced to about limit
// points, M4-style. Blocks of points that lie inside one bucket are drawn
// from their stored summaries without decoding; only blocks that straddle
// the range ends or are overlapped by not-yet-compacted points are decoded.
// When a bucket spans at least four blocks, a block that straddles a bucket
// boundary is given whole to the bucket it starts in, moving that boundary
// by less than a quarter bucket; every extreme still appears.
func (db *DB) Chart(ctx context.Context, runPK int64, key string, r history.Range, limit int) (history.Chart, error) {
	var out history.Chart
	sr, err := db.openSeries(ctx, runPK, key)
	if err != nil {
		return out, err
	}
	defer sr.close()
	if !sr.found {
		return out, nil
	}
	logPts, err := sr.logPoints(r)
	if err != nil {
		return out, err
	}
	rowPts, err := sr.valueRows(r, false)
	if err != nil {
		return out, err
	}
	chunks, err := sr.chunks(r, false)
	if err != nil {
		return out, err
	}
	// Gather the blocks, and decide which must be decoded.
	type block struct {
		s      chunk.Summary
		chunk  int64 // min_step of its chunk
		decode bool
	}
	var blocks []block
	var total int64
	for _, c := range chunks {
		ss, err := chunk.DecodeSummaries(c.summaries)
		if err != nil {
			return out, fmt.Errorf("chart %q: chunk at %d: %w", key, c.minStep, err)
		}
		for _, s := range ss {
			if s.LastStep < r.Min || s.FirstStep > r.Max {
				continue
			}
			blocks = append(blocks, block{s: s, chunk: c.minStep, decode: s.FirstStep < r.Min || s.LastStep > r.Max})
			total += s.Count
		}
	}
	sort.Slice(logPts, func(i, j int) bool { return logPts[i].step < logPts[j].step })
	overlaps := func(lo, hi int64, steps func(i int) int64, n int) bool {
		i := sort.Search(n, func(i int) bool { return steps(i) >= lo })
		return i < n && steps(i) <= hi
	}
	for i := range blocks {
		b := &blocks[i]
		if overlaps(b.s.FirstStep, b.s.LastStep, func(j int) int64 { return logPts[j].step }, len(logPts)) ||
			overlaps(b.s.FirstStep, b.s.LastStep, func(j int) int64 { return rowPts[j].Step }, len(rowPts)) {
			b.decode = true
		}
	}
	total += int64(len(logPts) + len(rowPts))
	// Small results (or short ranges) are exact: decode and downsample.
	// Buckets span the data in r, not r itself (which may be All).
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	if len(blocks) > 0 {
		lo, hi = blocks[0].s.FirstStep, blocks[len(blocks)-1].s.LastStep
	}
	if len(logPts) > 0 {
		lo, hi = min(lo, logPts[0].step), max(hi, logPts[len(logPts)-1].step)
	}
	if len(rowPts) > 0 {
		lo, hi = min(lo, rowPts[0].Step), max(hi, rowPts[len(rowPts)-1].Step)
	}
	lo, hi = max(lo, r.Min), min(hi, r.Max)
	if total == 0 {
		return out, nil
	}
	ds := history.NewDownsampler(lo, hi, limit)
	bucketPoints := float64(total) / float64(max(1, limit/4))
	snap := bucketPoints >= 4*chunk.BlockSize
	if total > int64(limit) {
		ds.StartSampled()
	}
	// One pass over the blocks in step order: summaries where a block stands
	// for its points, decoded points otherwise, with the few uncompacted
	// points (log and value rows, already merged) interleaved by step and
	// winning over chunk points at equal steps. Decoded chunks are cached:
	// neighbouring blocks share one.
	small := rawPoints(chunk.Points{}, rowPts, logPts)
	si := 0
	feedBefore := func(step int64) {
		for si < len(small) && small[si].Step < step {
			ds.Add(small[si])
			si++
		}
	}
	var cached chunk.Points
	cachedAt := int64(math.MinInt64)
	for _, b := range blocks {
		if !b.decode && (snap || ds.BlockFits(b.s.FirstStep, b.s.LastStep)) {
			feedBefore(b.s.FirstStep)
			ds.AddSummary(b.s)
			continue
		}
		if cachedAt != b.chunk || cached.Len() == 0 {
			if cached, err = sr.chunkData(b.chunk); err != nil {
				return out, err
			}
			cachedAt = b.chunk
		}
		lo := sort.Search(cached.Len(), func(i int) bool { return cached.Steps[i] >= max(b.s.FirstStep, r.Min) })
		for i := lo; i < cached.Len(); i++ {
			st := cached.Steps[i]
			if st > b.s.LastStep || st > r.Max {
				break
			}
			feedBefore(st)
			if si < len(small) && small[si].Step == st {
				ds.Add(small[si]) // a newer value for this step
				si++
				continue
			}
			ds.Add(history.Point{Step: st, Time: cached.Times[i], Value: history.NumberValue(cached.Values[i])})
		}
	}
	feedBefore(math.MaxInt64)
	if si < len(small) { // a point at MaxInt64 itself
		for ; si < len(small); si++ {
			ds.Add(small[si])
		}
	}
	out.Points = ds.Points()
	if err := sr.fillText(out.Points); err != nil {
		return out, err
	}
	out.Total = ds.Total()
	out.Sampled = ds.Sampled()
	return out, nil
}

// ScanColumns implements history.ColumnScanner: the numeric points of a
// series in r, in step order, a chunk's worth of columns at a time. Chunks
// that no uncompacted point overlaps go out as decoded, without building a
// point at a time; that is what makes full-resolution export fast.
func (db *DB) ScanColumns(ctx context.Context, runPK int64, key string, r history.Range, fn func(chunk.Points) error) error {
	return db.walk(ctx, runPK, key, r, false, func(pts chunk.Points, rows []history.Point, logs []logPoint) error {
		if len(rows) > 0 || len(logs) > 0 {
			var merged chunk.Points
			for _, p := range rawPoints(pts, rows, logs) {
				if p.Value.Kind == history.Number {
					merged.Steps = append(merged.Steps, p.Step)
					merged.Times = append(merged.Times, p.Time)
					merged.Values = append(merged.Values, p.Value.Num)
				}
			}
			pts = merged
		}
		if pts.Len() == 0 {
			return nil
		}
		return fn(pts)
	})
}
