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
	db    *DB
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
	sr := &seriesReader{db: db, ctx: ctx, tx: tx, run: runPK}
	err = sr.queryRow(`SELECT k.id FROM metric_keys k JOIN runs r ON r.project_id = k.project_id
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

// query runs q in the read transaction as a statement prepared once per
// connection: parsing and planning a statement costs more than running
// these small queries.
func (sr *seriesReader) query(q string, args ...any) (*sql.Rows, error) {
	st, err := sr.db.readStmt(sr.ctx, q)
	if err != nil {
		return nil, err
	}
	return sr.tx.StmtContext(sr.ctx, st).QueryContext(sr.ctx, args...)
}

// queryRow is query for one row.
func (sr *seriesReader) queryRow(q string, args ...any) *sql.Row {
	st, err := sr.db.readStmt(sr.ctx, q)
	if err != nil {
		// A statement that cannot be prepared fails again, with its error.
		return sr.tx.QueryRowContext(sr.ctx, q, args...)
	}
	return sr.tx.StmtContext(sr.ctx, st).QueryRowContext(sr.ctx, args...)
}

// readStmt returns q prepared on the reader pool, preparing it once.
func (db *DB) readStmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := db.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.r.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if prev, loaded := db.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// logPoints returns the series' points still in the write log, in range,
// newest last (a later point at the same step wins).
func (sr *seriesReader) logPoints(r history.Range) ([]logPoint, error) {
	rows, err := sr.query(`SELECT payload FROM hist_log WHERE run_id = ? ORDER BY id`, sr.run)
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

// chunkCols says which blobs chunks reads.
type chunkCols int

const (
	withSummaries chunkCols = 1 << iota
	withData
)

// chunks returns the chunks overlapping r, with the blobs cols names (the
// others empty).
func (sr *seriesReader) chunks(r history.Range, cols chunkCols) ([]chunkRow, error) {
	sum, data := "x''", "x''"
	if cols&withSummaries != 0 {
		sum = "summaries"
	}
	if cols&withData != 0 {
		data = "data"
	}
	rows, err := sr.query(`SELECT min_step, max_step, count, `+sum+`, `+data+` FROM hist_chunks
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
	rows, err := sr.query(`SELECT step, wall, kind, num, `+txt+` FROM history
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
	chunks, err := sr.chunks(r, withData)
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
