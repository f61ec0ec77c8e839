package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/history/chunk"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// history.kind values in the database.
const (
	kindNumber = 0
	kindString = 1
	kindBool   = 2
	kindJSON   = 3
	kindNaN    = 4 // SQLite turns NaN into NULL, so NaN gets its own kind
)

// keyCache maps (project, metric name) to metric_keys ids and types. It is
// updated only after a commit, so a rolled-back group never leaves stale
// entries.
type keyCache struct {
	mu  sync.Mutex
	ids map[keyRef]keyEntry
}

// keyEntry is a metric key's id and the type stored with it.
type keyEntry struct {
	id  int64
	typ string
}

type keyRef struct {
	project int64
	name    string
}

const maxCachedKeys = 1 << 18

func (c *keyCache) get(k keyRef) (keyEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.ids[k]
	return e, ok
}

func (c *keyCache) addAll(m map[keyRef]keyEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil || len(c.ids)+len(m) > maxCachedKeys {
		c.ids = make(map[keyRef]keyEntry, len(m))
	}
	for k, v := range m {
		c.ids[k] = v
	}
}

type ingestTx struct {
	ctx       context.Context
	tx        *sql.Tx
	cache     *keyCache
	newKeys   map[keyRef]keyEntry
	fields    *fieldCache
	newFields []fieldRow // run_fields rows written, for fields once committed
	insHist   *sql.Stmt
	updHist   *sql.Stmt
	insKey    *sql.Stmt
	selKey    *sql.Stmt
	insCons   *sql.Stmt
	insSys    *sql.Stmt
	selAlert  *sql.Stmt
	insAlert  *sql.Stmt
	alerts    []store.Alert // the alerts of the batch being applied, as stored
	revived   bool          // the batch being applied made a lost run running again
	upRunKeys *sql.Stmt
	updKeyTyp *sql.Stmt
	insLog    *sql.Stmt
	selBase   *sql.Stmt
}

// ApplyBatches implements store.Ingester.
func (db *DB) ApplyBatches(ctx context.Context, batches []store.Batch) ([]store.BatchResult, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("apply batches: begin: %w", err)
	}
	defer tx.Rollback()
	it := &ingestTx{ctx: ctx, tx: tx, cache: &db.keys, newKeys: map[keyRef]keyEntry{}, fields: &db.fields}
	if err := it.prepare(); err != nil {
		return nil, err
	}
	results := make([]store.BatchResult, len(batches))
	for i := range batches {
		it.alerts, it.revived = nil, false
		dup, err := it.apply(&batches[i])
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrRunFinished) {
			results[i].Err = err
			continue
		}
		if err != nil {
			return nil, err
		}
		results[i].Duplicate = dup
		results[i].Alerts = it.alerts
		results[i].Revived = it.revived
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("apply batches: commit: %w", err)
	}
	db.keys.addAll(it.newKeys)
	db.fields.addAll(it.newFields)
	db.keyLists.changed(it.newKeys)
	return results, nil
}

// HighestSeq implements store.Acks.
func (db *DB) HighestSeq(ctx context.Context, runPK int64, writer string) (int64, error) {
	st, err := db.readStmt(ctx, `SELECT coalesce(max(seq), -1) FROM ingest_batches WHERE run_id = ? AND writer = ?`)
	if err != nil {
		return 0, fmt.Errorf("highest seq: %w", err)
	}
	var seq int64
	if err := st.QueryRowContext(ctx, runPK, writer).Scan(&seq); err != nil {
		return 0, fmt.Errorf("highest seq: %w", err)
	}
	return seq, nil
}

func (it *ingestTx) prepare() error {
	stmts := []struct {
		dst **sql.Stmt
		sql string
	}{
		{&it.insHist, `INSERT INTO history (run_id, key_id, step, wall, kind, num, txt) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (run_id, key_id, step) DO NOTHING`},
		{&it.updHist, `UPDATE history SET wall = ?, kind = ?, num = ?, txt = ? WHERE run_id = ? AND key_id = ? AND step = ?`},
		{&it.insKey, `INSERT INTO metric_keys (project_id, name) VALUES (?, ?) ON CONFLICT (project_id, name) DO NOTHING`},
		{&it.selKey, `SELECT id, type FROM metric_keys WHERE project_id = ? AND name = ?`},
		{&it.updKeyTyp, `UPDATE metric_keys SET type = ? WHERE id = ?`},
		{&it.insCons, `INSERT INTO console (run_id, time, stream, line) VALUES (?, ?, ?, ?)`},
		{&it.insSys, `INSERT INTO system_samples (run_id, time, metrics) VALUES (?, ?, ?)`},
		{&it.selAlert, `SELECT max(time) FROM alerts WHERE run_id = ? AND title = ? AND suppressed = 0 AND time <= ?`},
		{&it.insAlert, `INSERT INTO alerts (run_id, time, title, text, level, wait_ms, suppressed) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`},
		{&it.insLog, `INSERT INTO hist_log (run_id, points, payload) VALUES (?, ?, ?)`},
		{&it.selBase, `SELECT base FROM writer_bases WHERE run_id = ? AND writer = ?`},
		{&it.upRunKeys, `INSERT INTO run_keys (run_id, key_id, points, min_step, max_step, type) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (run_id, key_id) DO UPDATE SET points = points + excluded.points,
			min_step = min(min_step, excluded.min_step), max_step = max(max_step, excluded.max_step), type = excluded.type`},
	}
	for _, s := range stmts {
		st, err := it.tx.PrepareContext(it.ctx, s.sql)
		if err != nil {
			return fmt.Errorf("apply batches: prepare: %w", err)
		}
		*s.dst = st
	}
	return nil
}

func (it *ingestTx) keyID(project int64, name string) (int64, error) {
	e, err := it.key(keyRef{project, name})
	return e.id, err
}

func (it *ingestTx) key(ref keyRef) (keyEntry, error) {
	if e, ok := it.newKeys[ref]; ok {
		return e, nil
	}
	if e, ok := it.cache.get(ref); ok {
		return e, nil
	}
	if _, err := it.insKey.ExecContext(it.ctx, ref.project, ref.name); err != nil {
		return keyEntry{}, fmt.Errorf("insert metric key: %w", err)
	}
	var e keyEntry
	if err := it.selKey.QueryRowContext(it.ctx, ref.project, ref.name).Scan(&e.id, &e.typ); err != nil {
		return keyEntry{}, fmt.Errorf("select metric key: %w", err)
	}
	it.newKeys[ref] = e
	return e, nil
}

// setKeyType records typ as the project-wide type of a key, writing only
// when it changes (numeric keys, the common case, never write).
func (it *ingestTx) setKeyType(ref keyRef, typ string) error {
	e, err := it.key(ref)
	if err != nil || e.typ == typ {
		return err
	}
	if _, err := it.updKeyTyp.ExecContext(it.ctx, typ, e.id); err != nil {
		return fmt.Errorf("update metric key type: %w", err)
	}
	e.typ = typ
	it.newKeys[ref] = e
	return nil
}

type keyStat struct {
	points   int64
	min, max int64
}

// lastType is the type of the last value of a key in a batch (in row
// order) and the row it came from.
type lastType struct {
	row  int
	typ  string
	name string
}

func encodeValue(v history.Value) (kind int, num any, txt any) {
	switch v.Kind {
	case history.Number:
		if math.IsNaN(v.Num) {
			return kindNaN, nil, nil
		}
		return kindNumber, v.Num, nil
	case history.Bool:
		return kindBool, v.Num, nil
	case history.JSON:
		return kindJSON, nil, v.Text
	default:
		return kindString, nil, v.Text
	}
}

// apply writes one batch; it reports whether the batch was a duplicate.
func (it *ingestTx) apply(b *store.Batch) (bool, error) {
	ctx, tx := it.ctx, it.tx
	if b.ProgressOnly {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM runs WHERE id = ?`, b.RunPK).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("run %d: %w", b.RunPK, store.ErrNotFound)
		}
		if err != nil {
			return false, fmt.Errorf("read run: %w", err)
		}
		return false, it.progress(b)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO ingest_batches (run_id, writer, seq) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		b.RunPK, b.Writer, b.Seq)
	if err != nil {
		return false, fmt.Errorf("record batch: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// Applied before, so the run exists; the writer may have spooled more since.
		return true, it.progress(b)
	}
	var state string
	var project int64
	err = tx.QueryRowContext(ctx, `SELECT state, project_id FROM runs WHERE id = ?`, b.RunPK).Scan(&state, &project)
	if errors.Is(err, sql.ErrNoRows) {
		return false, it.undoRecord(b, fmt.Errorf("run %d: %w", b.RunPK, store.ErrNotFound))
	}
	if err != nil {
		return false, fmt.Errorf("read run: %w", err)
	}
	dLogged, dReceived, err := it.writerProgress(b)
	if err != nil {
		return false, err
	}
	if store.TerminalState(state) {
		// Refused, so no longer pending: the progress stays.
		if err := it.runProgress(b.RunPK, dLogged, dReceived); err != nil {
			return false, err
		}
		return false, it.undoRecord(b, fmt.Errorf("run is %s: %w", state, store.ErrRunFinished))
	}
	if err := it.rebase(b); err != nil {
		return false, err
	}
	stats := map[int64]*keyStat{}
	var added int64
	lastStep := int64(-1)
	// Numeric points go to the write log, one entry per batch; the compactor
	// turns them into chunks. Other values are stored one row per point.
	numeric := map[int64][]logPoint{}
	var numKeys []int64
	var numNames []string
	// Types of non-numeric values; a key without an entry is a number.
	types := map[int64]lastType{}
	count := func(kid, step int64) {
		added++
		s := stats[kid]
		if s == nil {
			s = &keyStat{min: step, max: step}
			stats[kid] = s
		}
		s.points++
		s.min, s.max = min(s.min, step), max(s.max, step)
	}
	ascending := true
	for i, row := range b.History {
		if i > 0 && row.Step <= b.History[i-1].Step {
			ascending = false
		}
		if row.Step > lastStep {
			lastStep = row.Step
		}
		for _, f := range row.Fields {
			kid, err := it.keyID(project, f.Key)
			if err != nil {
				return false, err
			}
			if f.Value.Kind == history.Number {
				if _, ok := numeric[kid]; !ok {
					numKeys = append(numKeys, kid)
					numNames = append(numNames, f.Key)
				}
				numeric[kid] = append(numeric[kid], logPoint{row.Step, row.Time, f.Value.Num})
				continue
			}
			types[kid] = lastType{row: i, typ: f.Value.Type(), name: f.Key}
			kind, num, txt := encodeValue(f.Value)
			r, err := it.insHist.ExecContext(ctx, b.RunPK, kid, row.Step, row.Time, kind, num, txt)
			if err != nil {
				return false, fmt.Errorf("insert history: %w", err)
			}
			if n, _ := r.RowsAffected(); n == 0 {
				// A late or repeated step: the newest value wins.
				if _, err := it.updHist.ExecContext(ctx, row.Time, kind, num, txt, b.RunPK, kid, row.Step); err != nil {
					return false, fmt.Errorf("update history: %w", err)
				}
				if _, ok := stats[kid]; !ok {
					stats[kid] = &keyStat{min: row.Step, max: row.Step} // no new point; the type may change
				}
				continue
			}
			count(kid, row.Step)
		}
	}
	if len(numKeys) > 0 {
		var n int
		for _, k := range numKeys {
			if !ascending {
				// Rows out of order may repeat a step: keep the last value,
				// so the log holds one point per (key, step) of this batch.
				merged, _ := mergePoints(chunk.Points{}, numeric[k])
				numeric[k] = numeric[k][:0]
				for i, st := range merged.Steps {
					numeric[k] = append(numeric[k], logPoint{st, merged.Times[i], merged.Values[i]})
				}
			}
			// Counted now; the compactor subtracts points that replace ones
			// stored by earlier batches.
			for _, p := range numeric[k] {
				count(k, p.step)
			}
			n += len(numeric[k])
		}
		if _, err := it.insLog.ExecContext(ctx, b.RunPK, n, encodeLog(numKeys, numeric)); err != nil {
			return false, fmt.Errorf("append history log: %w", err)
		}
	}
	for kid, lt := range types {
		if _, ok := numeric[kid]; ok && numberAfter(b.History, lt.row, lt.name) {
			delete(types, kid) // a number was written last
		}
	}
	for kid, s := range stats {
		typ := history.TypeNumber
		if lt, ok := types[kid]; ok {
			typ = lt.typ
			if err := it.setKeyType(keyRef{project, lt.name}, typ); err != nil {
				return false, err
			}
		}
		if _, err := it.upRunKeys.ExecContext(ctx, b.RunPK, kid, s.points, s.min, s.max, typ); err != nil {
			return false, fmt.Errorf("update run keys: %w", err)
		}
	}
	for i, k := range numKeys {
		if _, ok := types[k]; !ok {
			if err := it.setKeyType(keyRef{project, numNames[i]}, history.TypeNumber); err != nil {
				return false, err
			}
		}
	}
	for _, l := range b.Console {
		if _, err := it.insCons.ExecContext(ctx, b.RunPK, l.Time, l.Stream, l.Line); err != nil {
			return false, fmt.Errorf("insert console line: %w", err)
		}
	}
	for _, s := range b.System {
		if _, err := it.insSys.ExecContext(ctx, b.RunPK, s.Time, mustJSON(s.Values)); err != nil {
			return false, fmt.Errorf("insert system sample: %w", err)
		}
	}
	for _, a := range b.Alerts {
		if err := it.addAlert(b.RunPK, a); err != nil {
			return false, err
		}
	}
	if len(b.Summary) > 0 {
		var cur string
		if err := tx.QueryRowContext(ctx, `SELECT json(summary) FROM runs WHERE id = ?`, b.RunPK).Scan(&cur); err != nil {
			return false, fmt.Errorf("read summary: %w", err)
		}
		var m map[string]any
		if err := jsonUnmarshal(cur, &m); err != nil {
			return false, fmt.Errorf("decode summary: %w", err)
		}
		mergeSummary(m, b.Summary)
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET summary = jsonb(?) WHERE id = ?`, mustJSON(m), b.RunPK); err != nil {
			return false, fmt.Errorf("update summary: %w", err)
		}
		wrote, err := addFields(ctx, tx, it.fields, project, nil, b.Summary)
		if err != nil {
			return false, err
		}
		it.newFields = append(it.newFields, wrote...)
	}
	t := ms(now(b.Now))
	// A batch is a sign of life: a lost run is running again.
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET last_step = max(last_step, ?), points = points + ?, heartbeat_at = ?,
		updated_at = ?, state = ?, points_logged = points_logged + ?, points_received = points_received + ? WHERE id = ?`,
		lastStep, added, t, t, store.StateRunning, dLogged, dReceived, b.RunPK); err != nil {
		return false, fmt.Errorf("update run after ingest: %w", err)
	}
	it.revived = state == store.StateLost
	return false, nil
}

// progress records how far the batch's writer got (store.Batch.Logged and
// Spooled), keeping each writer's highest figures and the run's sums.
func (it *ingestTx) progress(b *store.Batch) error {
	dLogged, dReceived, err := it.writerProgress(b)
	if err != nil {
		return err
	}
	return it.runProgress(b.RunPK, dLogged, dReceived)
}

// writerProgress keeps the writer's highest figures and returns how much
// they grew, for the run's sums.
func (it *ingestTx) writerProgress(b *store.Batch) (dLogged, dReceived int64, err error) {
	if b.Logged <= 0 && b.Spooled <= 0 {
		return 0, 0, nil
	}
	var logged, received int64
	err = it.tx.QueryRowContext(it.ctx, `SELECT logged, received FROM writer_progress WHERE run_id = ? AND writer = ?`,
		b.RunPK, b.Writer).Scan(&logged, &received)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("read writer progress: %w", err)
	}
	nl, nr := max(logged, b.Logged, b.Spooled), max(received, b.Logged)
	if nl == logged && nr == received {
		return 0, 0, nil
	}
	if _, err := it.tx.ExecContext(it.ctx, `INSERT INTO writer_progress (run_id, writer, logged, received) VALUES (?, ?, ?, ?)
		ON CONFLICT (run_id, writer) DO UPDATE SET logged = excluded.logged, received = excluded.received`,
		b.RunPK, b.Writer, nl, nr); err != nil {
		return 0, 0, fmt.Errorf("write writer progress: %w", err)
	}
	return nl - logged, nr - received, nil
}

// runProgress adds a writer's growth to the run's sums.
func (it *ingestTx) runProgress(runPK, dLogged, dReceived int64) error {
	if dLogged == 0 && dReceived == 0 {
		return nil
	}
	if _, err := it.tx.ExecContext(it.ctx, `UPDATE runs SET points_logged = points_logged + ?, points_received = points_received + ? WHERE id = ?`,
		dLogged, dReceived, runPK); err != nil {
		return fmt.Errorf("update run progress: %w", err)
	}
	return nil
}

// rebase moves the steps of a writer that resumed the run without knowing
// its last step (store.RunSpec.StepsAfterLast) after that step. The rows are
// copied first: the caller's batch is left as it was.
func (it *ingestTx) rebase(b *store.Batch) error {
	if len(b.History) == 0 {
		return nil
	}
	var base int64
	err := it.selBase.QueryRowContext(it.ctx, b.RunPK, b.Writer).Scan(&base)
	if errors.Is(err, sql.ErrNoRows) || err == nil && base == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read writer base: %w", err)
	}
	rows := make([]history.Row, len(b.History))
	for i, r := range b.History {
		r.Step += base
		rows[i] = r
	}
	b.History = rows
	return nil
}

// numberAfter reports whether a row after rows[i] gives key a number: rare
// (a key that changes type within a batch), so a plain search is fine.
func numberAfter(rows []history.Row, i int, key string) bool {
	for _, r := range rows[i+1:] {
		for _, f := range r.Fields {
			if f.Key == key && f.Value.Kind == history.Number {
				return true
			}
		}
	}
	return false
}

// undoRecord removes the batch's dedup row so that a rejected batch is not
// remembered as applied, and returns err.
func (it *ingestTx) undoRecord(b *store.Batch, err error) error {
	if _, derr := it.tx.ExecContext(it.ctx, `DELETE FROM ingest_batches WHERE run_id = ? AND writer = ? AND seq = ?`,
		b.RunPK, b.Writer, b.Seq); derr != nil {
		return fmt.Errorf("forget rejected batch: %w", derr)
	}
	return err
}

// addAlert stores an alert, suppressed when an alert of the same title was
// delivered less than its wait before it.
func (it *ingestTx) addAlert(runPK int64, a store.Alert) error {
	var last sql.NullFloat64
	if err := it.selAlert.QueryRowContext(it.ctx, runPK, a.Title, a.Time).Scan(&last); err != nil {
		return fmt.Errorf("read last alert: %w", err)
	}
	a.Suppressed = last.Valid && (a.Time-last.Float64)*1000 < float64(a.WaitMS)
	if err := it.insAlert.QueryRowContext(it.ctx, runPK, a.Time, a.Title, a.Text, a.Level, a.WaitMS, a.Suppressed).Scan(&a.ID); err != nil {
		return fmt.Errorf("insert alert: %w", err)
	}
	it.alerts = append(it.alerts, a)
	return nil
}
