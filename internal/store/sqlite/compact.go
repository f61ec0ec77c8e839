package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluoro-dev/fluoro/internal/history/chunk"
)

// ChunkSize is the most points a sealed chunk holds.
const ChunkSize = 4096

// compactBudget bounds the log points one compaction transaction takes, so
// ingest (which shares the single writer) is never held up for long.
const compactBudget = 250_000

type seriesRef struct {
	run, key int64
}

// Compact moves up to about compactBudget points from the write log into
// chunks and reports how many it moved, in three phases: the log prefix and
// the chunks its points land in are read from a snapshot (a read
// transaction), merged and encoded a worker per CPU, and only then written,
// in one writer transaction. So ingest, which shares the single writer, waits
// for the writes alone, not for the encoding (65-106 ms of a 250k-point
// compaction on the development machine). What the first two phases read
// cannot change before the third: only the compactor (compactMu) writes
// chunks or deletes from the log. A crash at any point leaves either the old
// state (log entries, old chunks) or the new one.
func (db *DB) Compact(ctx context.Context) (int, error) {
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	work, lastID, moved, err := db.readCompaction(ctx)
	if err != nil || lastID < 0 {
		return 0, err
	}
	if err := rechunkAll(work); err != nil {
		return 0, err
	}
	if err := db.writeCompaction(ctx, work, lastID); err != nil {
		return 0, err
	}
	return moved, nil
}

// readCompaction reads, from one snapshot, a prefix of the write log (up to
// compactBudget points; lastID is its last entry, -1 when the log is empty)
// grouped by series, and each series' affected chunks.
func (db *DB) readCompaction(ctx context.Context) (work []*seriesWork, lastID int64, moved int, err error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, -1, 0, fmt.Errorf("compact: begin read: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, run_id, points, payload FROM hist_log ORDER BY id LIMIT 2000`)
	if err != nil {
		return nil, -1, 0, fmt.Errorf("compact: read log: %w", err)
	}
	pending := map[seriesRef][]logPoint{}
	var order []seriesRef
	lastID = -1
	for rows.Next() {
		var id, run int64
		var n int
		var payload []byte
		if err := rows.Scan(&id, &run, &n, &payload); err != nil {
			rows.Close()
			return nil, -1, 0, fmt.Errorf("compact: read log: %w", err)
		}
		if moved > 0 && moved+n > compactBudget {
			break
		}
		err := decodeLog(payload, func(key int64, pts []logPoint) {
			ref := seriesRef{run, key}
			if _, ok := pending[ref]; !ok {
				order = append(order, ref)
			}
			pending[ref] = append(pending[ref], pts...)
		})
		if err != nil {
			rows.Close()
			return nil, -1, 0, fmt.Errorf("compact: log entry %d: %w", id, err)
		}
		lastID = id
		moved += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, -1, 0, fmt.Errorf("compact: read log: %w", err)
	}
	if lastID < 0 {
		return nil, -1, 0, nil
	}
	st, err := prepareRead(ctx, tx)
	if err != nil {
		return nil, -1, 0, err
	}
	defer st.close()
	work = make([]*seriesWork, len(order))
	for i, ref := range order {
		work[i] = &seriesWork{ref: ref, pts: pending[ref]}
		if err := readAffected(ctx, st, work[i]); err != nil {
			return nil, -1, 0, err
		}
	}
	return work, lastID, moved, nil
}

// writeCompaction replaces each series' affected chunks with its new ones,
// fixes the point counts and trims the log up to lastID, in one transaction.
func (db *DB) writeCompaction(ctx context.Context, work []*seriesWork, lastID int64) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("compact: begin: %w", err)
	}
	defer tx.Rollback()
	runs := make([]int64, 0, len(work))
	for _, w := range work {
		runs = append(runs, w.ref.run)
	}
	var touched []seriesChunk
	db.gens.writing(runs)
	defer func() { db.gens.written(runs, touched) }()
	st, err := prepareWrite(ctx, tx)
	if err != nil {
		return err
	}
	defer st.close()
	replacedByRun := map[int64]int64{}
	for _, w := range work {
		ref, replaced := w.ref, w.replaced
		if err := writeChunks(ctx, st, w, func(minStep int64) {
			touched = append(touched, seriesChunk{ref.run, ref.key, minStep})
		}); err != nil {
			return err
		}
		if replaced > 0 {
			replacedByRun[ref.run] += int64(replaced)
			if _, err := tx.ExecContext(ctx, `UPDATE run_keys SET points = points - ? WHERE run_id = ? AND key_id = ?`,
				replaced, ref.run, ref.key); err != nil {
				return fmt.Errorf("compact: fix key counts: %w", err)
			}
		}
	}
	for run, n := range replacedByRun {
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET points = points - ? WHERE id = ?`, n, run); err != nil {
			return fmt.Errorf("compact: fix run counts: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM hist_log WHERE id <= ?`, lastID); err != nil {
		return fmt.Errorf("compact: trim log: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("compact: commit: %w", err)
	}
	return nil
}

type storedChunk struct {
	minStep, maxStep int64
	count            int
	data             []byte
}

// compactStmts are the statements a compaction runs per series, prepared
// once per transaction.
type compactStmts struct {
	overlap, before, drop, insert *sql.Stmt
}

// prepareRead prepares the statements that read a compaction's chunks.
func prepareRead(ctx context.Context, tx *sql.Tx) (*compactStmts, error) {
	var st compactStmts
	return &st, st.prepare(ctx, tx, []stmtSQL{
		{&st.overlap, `SELECT min_step, max_step, count, data FROM hist_chunks
			WHERE run_id = ? AND key_id = ? AND max_step >= ? AND min_step <= ? ORDER BY min_step`},
		{&st.before, `SELECT min_step, max_step, count, data FROM hist_chunks
			WHERE run_id = ? AND key_id = ? AND max_step < ? ORDER BY min_step DESC LIMIT 1`},
	})
}

// prepareWrite prepares the statements that write a compaction's chunks.
func prepareWrite(ctx context.Context, tx *sql.Tx) (*compactStmts, error) {
	var st compactStmts
	return &st, st.prepare(ctx, tx, []stmtSQL{
		{&st.drop, `DELETE FROM hist_chunks WHERE run_id = ? AND key_id = ? AND min_step = ?`},
		{&st.insert, `INSERT INTO hist_chunks (run_id, key_id, min_step, max_step, count, data, summaries, sealed)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
	})
}

type stmtSQL struct {
	dst **sql.Stmt
	sql string
}

func (st *compactStmts) prepare(ctx context.Context, tx *sql.Tx, qs []stmtSQL) error {
	for _, q := range qs {
		s, err := tx.PrepareContext(ctx, q.sql)
		if err != nil {
			st.close()
			return fmt.Errorf("compact: prepare: %w", err)
		}
		*q.dst = s
	}
	return nil
}

func (st *compactStmts) close() {
	for _, s := range []*sql.Stmt{st.overlap, st.before, st.drop, st.insert} {
		if s != nil {
			s.Close()
		}
	}
}

// seriesWork is one series' share of a compaction: the chunks the new
// points land in (read first), then what replaces them (computed apart
// from the database, several series at a time), then written.
type seriesWork struct {
	ref      seriesRef
	pts      []logPoint
	affected []storedChunk
	out      []newChunk
	replaced int
	err      error
}

// newChunk is an encoded chunk ready to insert.
type newChunk struct {
	minStep, maxStep int64
	count            int
	data, summaries  []byte
	sealed           bool
}

// readAffected reads the chunks w's points overlap and, when it has room,
// the chunk just before them (the open tail, which absorbs them).
func readAffected(ctx context.Context, st *compactStmts, w *seriesWork) error {
	lo, hi := w.pts[0].step, w.pts[0].step
	for _, p := range w.pts {
		lo, hi = min(lo, p.step), max(hi, p.step)
	}
	rows, err := st.overlap.QueryContext(ctx, w.ref.run, w.ref.key, lo, hi)
	if err != nil {
		return fmt.Errorf("compact: read chunks: %w", err)
	}
	for rows.Next() {
		var c storedChunk
		if err := rows.Scan(&c.minStep, &c.maxStep, &c.count, &c.data); err != nil {
			rows.Close()
			return fmt.Errorf("compact: read chunks: %w", err)
		}
		w.affected = append(w.affected, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("compact: read chunks: %w", err)
	}
	var prev storedChunk
	err = st.before.QueryRowContext(ctx, w.ref.run, w.ref.key, lo).Scan(&prev.minStep, &prev.maxStep, &prev.count, &prev.data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("compact: read tail chunk: %w", err)
	case prev.count < ChunkSize:
		w.affected = append([]storedChunk{prev}, w.affected...)
	}
	return nil
}

// rechunk merges w's points into its affected chunks and cuts and encodes
// the result: pure computation, safe to run beside other series'.
func rechunk(w *seriesWork) {
	var old chunk.Points
	for _, c := range w.affected {
		p, err := chunk.Decode(c.data)
		if err != nil {
			w.err = fmt.Errorf("compact: run %d key %d chunk at %d: %w", w.ref.run, w.ref.key, c.minStep, err)
			return
		}
		old.Steps = append(old.Steps, p.Steps...)
		old.Times = append(old.Times, p.Times...)
		old.Values = append(old.Values, p.Values...)
	}
	merged, replaced := mergePoints(old, w.pts)
	w.replaced = replaced
	for start := 0; start < merged.Len(); start += ChunkSize {
		end := min(start+ChunkSize, merged.Len())
		part := chunk.Points{Steps: merged.Steps[start:end], Times: merged.Times[start:end], Values: merged.Values[start:end]}
		// A full chunk is sealed now; a partial one is the open tail, likely
		// rewritten at the next compaction, so it gets the cheap encoding.
		sealed := part.Len() == ChunkSize
		encode, summaries := chunk.EncodeFast, chunk.EncodeSummariesFast
		if sealed {
			encode, summaries = chunk.Encode, chunk.EncodeSummaries
		}
		data, err := encode(part)
		if err != nil {
			w.err = fmt.Errorf("compact: encode: %w", err)
			return
		}
		w.out = append(w.out, newChunk{
			minStep: part.Steps[0], maxStep: part.Steps[part.Len()-1], count: part.Len(),
			data: data, summaries: summaries(chunk.Summarize(part)), sealed: sealed,
		})
	}
}

// rechunkAll runs rechunk for every series, a worker per CPU: encoding is
// most of a compaction's work (the writer is not held meanwhile).
func rechunkAll(work []*seriesWork) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(work)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(work); i = int(next.Add(1) - 1) {
				rechunk(work[i])
			}
		}()
	}
	wg.Wait()
	for _, w := range work {
		if w.err != nil {
			return w.err
		}
	}
	return nil
}

// writeChunks replaces w's affected chunks with its new ones.
func writeChunks(ctx context.Context, st *compactStmts, w *seriesWork, touch func(minStep int64)) error {
	for _, c := range w.affected {
		touch(c.minStep)
		if _, err := st.drop.ExecContext(ctx, w.ref.run, w.ref.key, c.minStep); err != nil {
			return fmt.Errorf("compact: drop chunk: %w", err)
		}
	}
	for _, c := range w.out {
		touch(c.minStep)
		if _, err := st.insert.ExecContext(ctx, w.ref.run, w.ref.key, c.minStep, c.maxStep, c.count, c.data,
			c.summaries, c.sealed); err != nil {
			return fmt.Errorf("compact: write chunk: %w", err)
		}
	}
	return nil
}

// quietAfter is how long a running run's series must go without new points
// before its open tail chunks are sealed.
const quietAfter = 30 * time.Second

// SealQuiet re-encodes open tail chunks compactly: those of runs that are
// no longer running or have been quiet for a while, or every one when all
// is set. It reports how many it sealed.
func (db *DB) SealQuiet(ctx context.Context, all bool) (int, error) {
	db.compactMu.Lock() // a compaction between its read and its write must find the chunks it read
	defer db.compactMu.Unlock()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("seal chunks: begin: %w", err)
	}
	defer tx.Rollback()
	cutoff := ms(time.Now().Add(-quietAfter))
	if all {
		cutoff = 1 << 62
	}
	rows, err := tx.QueryContext(ctx, `SELECT c.run_id, c.key_id, c.min_step, c.data FROM hist_chunks c JOIN runs r ON r.id = c.run_id
		WHERE c.sealed = 0 AND (r.state != 'running' OR r.updated_at < ?) LIMIT 500`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("seal chunks: %w", err)
	}
	type open struct {
		run, key, min int64
		data          []byte
	}
	var todo []open
	for rows.Next() {
		var o open
		if err := rows.Scan(&o.run, &o.key, &o.min, &o.data); err != nil {
			rows.Close()
			return 0, fmt.Errorf("seal chunks: %w", err)
		}
		todo = append(todo, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("seal chunks: %w", err)
	}
	runs := make([]int64, 0, len(todo))
	touched := make([]seriesChunk, 0, len(todo))
	for _, o := range todo {
		runs = append(runs, o.run)
		touched = append(touched, seriesChunk{o.run, o.key, o.min})
	}
	db.gens.writing(runs)
	defer db.gens.written(runs, touched)
	for _, o := range todo {
		p, err := chunk.Decode(o.data)
		if err != nil {
			return 0, fmt.Errorf("seal chunk run %d key %d at %d: %w", o.run, o.key, o.min, err)
		}
		data, err := chunk.Encode(p)
		if err != nil {
			return 0, fmt.Errorf("seal chunk: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE hist_chunks SET data = ?, summaries = ?, sealed = 1 WHERE run_id = ? AND key_id = ? AND min_step = ?`,
			data, chunk.EncodeSummaries(chunk.Summarize(p)), o.run, o.key, o.min); err != nil {
			return 0, fmt.Errorf("seal chunk: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("seal chunks: commit: %w", err)
	}
	return len(todo), nil
}

// runCompactor compacts whenever the log has data, checking every interval,
// until stop is closed.
func (db *DB) runCompactor(interval time.Duration, log *slog.Logger) {
	defer close(db.compactDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-db.compactStop:
			return
		case <-t.C:
		}
		for {
			n, err := db.Compact(context.Background())
			if err != nil {
				log.Error("compact history", "err", err)
				break
			}
			if n == 0 {
				break
			}
			select {
			case <-db.compactStop:
				return
			default:
			}
		}
		if _, err := db.SealQuiet(context.Background(), false); err != nil {
			log.Error("seal history chunks", "err", err)
		}
		if err := db.shrink(context.Background()); err != nil {
			log.Error("release free pages", "err", err)
		}
	}
}

// shrink returns free pages (left by the drained write log) to the OS once
// there are more than a megabyte of them.
func (db *DB) shrink(ctx context.Context) error {
	var free int64
	if err := db.w.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	if free < 256 {
		return nil
	}
	if _, err := db.w.ExecContext(ctx, `PRAGMA incremental_vacuum`); err != nil {
		return fmt.Errorf("incremental vacuum: %w", err)
	}
	return nil
}

// Settle compacts until the write log is empty and seals every open chunk:
// the state the background compactor reaches once runs go quiet. Tests and
// benchmarks use it.
func (db *DB) Settle(ctx context.Context) error {
	for {
		n, err := db.Compact(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	for {
		n, err := db.SealQuiet(ctx, true)
		if err != nil {
			return err
		}
		if n == 0 {
			return db.shrink(ctx)
		}
	}
}
