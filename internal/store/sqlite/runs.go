package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/fluoro-dev/fluoro/internal/store"
)

const runCols = `r.id, r.project_id, e.name, p.name, r.run_id, r.name, r.state, r.user_id, json(r.config), json(r.summary),
	r.tags, r.run_group, r.job_type, r.notes, r.host, r.program, r.git, r.created_at, r.updated_at,
	r.heartbeat_at, r.finished_at, r.exit_code, r.last_step, r.points, r.points_logged, r.points_received`

const runFrom = ` FROM runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id`

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func scanRun(row interface{ Scan(...any) error }) (store.Run, error) {
	var r store.Run
	var config, summary, tags, git string
	var created, updated, heartbeat int64
	var finished, exit sql.NullInt64
	err := row.Scan(&r.PK, &r.ProjectPK, &r.Entity, &r.Project, &r.RunID, &r.Name, &r.State, &r.UserID,
		&config, &summary, &tags, &r.Group, &r.JobType, &r.Notes, &r.Host, &r.Program, &git,
		&created, &updated, &heartbeat, &finished, &exit, &r.LastStep, &r.Points, &r.PointsLogged, &r.PointsReceived)
	if errors.Is(err, sql.ErrNoRows) {
		return r, store.ErrNotFound
	}
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(config), &r.Config); err != nil {
		return r, fmt.Errorf("decode config: %w", err)
	}
	if err := json.Unmarshal([]byte(summary), &r.Summary); err != nil {
		return r, fmt.Errorf("decode summary: %w", err)
	}
	if err := json.Unmarshal([]byte(tags), &r.Tags); err != nil {
		return r, fmt.Errorf("decode tags: %w", err)
	}
	if err := json.Unmarshal([]byte(git), &r.Git); err != nil {
		return r, fmt.Errorf("decode git: %w", err)
	}
	if r.Tags == nil {
		r.Tags = []string{}
	}
	r.CreatedAt, r.UpdatedAt, r.HeartbeatAt = fromMS(created), fromMS(updated), fromMS(heartbeat)
	if finished.Valid {
		t := fromMS(finished.Int64)
		r.FinishedAt = &t
	}
	if exit.Valid {
		c := int(exit.Int64)
		r.ExitCode = &c
	}
	return r, nil
}

func getRun(ctx context.Context, q querier, key store.RunKey) (store.Run, error) {
	r, err := scanRun(q.QueryRowContext(ctx, `SELECT `+runCols+runFrom+` WHERE e.name = ? AND p.name = ? AND r.run_id = ?`,
		key.Entity, key.Project, key.RunID))
	if err != nil {
		return r, fmt.Errorf("run %s: %w", key, err)
	}
	return r, nil
}

// Run implements store.Runs.
func (db *DB) Run(ctx context.Context, key store.RunKey) (store.Run, error) {
	return getRun(ctx, db.r, key)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Values come from decoded JSON, so they always encode.
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return string(b)
}

// UpsertRun implements store.Runs.
func (db *DB) UpsertRun(ctx context.Context, spec store.RunSpec) (store.Run, bool, error) {
	t := now(spec.Now)
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return store.Run{}, false, fmt.Errorf("upsert run: begin: %w", err)
	}
	defer tx.Rollback()

	var entityID int64
	err = tx.QueryRowContext(ctx, `SELECT id FROM entities WHERE name = ?`, spec.Entity).Scan(&entityID)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Run{}, false, fmt.Errorf("entity %q: %w", spec.Entity, store.ErrNotFound)
	}
	if err != nil {
		return store.Run{}, false, fmt.Errorf("upsert run: entity: %w", err)
	}
	if !store.ValidName(spec.Project) {
		return store.Run{}, false, fmt.Errorf("project name %q: %w: use 1-128 letters, digits, '_', '-', '.'", spec.Project, store.ErrInvalid)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO projects (entity_id, name, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (entity_id, name) DO UPDATE SET updated_at = excluded.updated_at`, entityID, spec.Project, ms(t), ms(t)); err != nil {
		return store.Run{}, false, fmt.Errorf("upsert run: project: %w", err)
	}
	var projectID int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM projects WHERE entity_id = ? AND name = ?`, entityID, spec.Project).Scan(&projectID); err != nil {
		return store.Run{}, false, fmt.Errorf("upsert run: project: %w", err)
	}

	resumed := false
	if spec.RunID != "" {
		existing, err := getRun(ctx, tx, spec.RunKey)
		switch {
		case err == nil:
			if dup, err := recordOp(ctx, tx, existing.PK, spec.Op); err != nil || dup {
				return store.Run{}, false, opErr("upsert run", spec.RunKey, spec.Op, dup, err)
			}
			if spec.Resume == store.ResumeNever {
				return store.Run{}, false, fmt.Errorf("run %s: %w (resume=never)", spec.RunKey, store.ErrExists)
			}
			if err := resumeRun(ctx, tx, existing, spec, t); err != nil {
				return store.Run{}, false, err
			}
			resumed = true
		case errors.Is(err, store.ErrNotFound):
			if spec.Resume == store.ResumeMust {
				return store.Run{}, false, fmt.Errorf("run %s: %w (resume=must needs an existing run)", spec.RunKey, store.ErrNotFound)
			}
		default:
			return store.Run{}, false, err
		}
	}
	if !resumed {
		if spec.RunID == "" {
			spec.RunID = store.GenerateRunID()
		} else if !store.ValidRunID(spec.RunID) {
			return store.Run{}, false, fmt.Errorf("run id %q: %w: use 1-64 letters, digits, '_', '-', '.'", spec.RunID, store.ErrInvalid)
		}
		if spec.Name == "" {
			var n int64
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE project_id = ?`, projectID).Scan(&n); err != nil {
				return store.Run{}, false, fmt.Errorf("upsert run: count: %w", err)
			}
			spec.Name = store.GenerateRunName(n + 1)
		}
		if spec.Config == nil {
			spec.Config = map[string]any{}
		}
		if spec.Tags == nil {
			spec.Tags = []string{}
		}
		// The id is past every deleted run's too: a run never takes one's PK.
		_, err := tx.ExecContext(ctx, `INSERT INTO runs (id, project_id, run_id, name, state, user_id, config, summary, tags,
			run_group, job_type, notes, host, program, git, created_at, updated_at, heartbeat_at)
			VALUES (max(coalesce((SELECT max(id) FROM runs), 0), coalesce((SELECT max(id) FROM deleted_runs), 0)) + 1,
			?, ?, ?, ?, ?, jsonb(?), jsonb('{}'), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			projectID, spec.RunID, spec.Name, store.StateRunning, spec.UserID, mustJSON(spec.Config), mustJSON(spec.Tags),
			spec.Group, spec.JobType, spec.Notes, spec.Host, spec.Program, mustJSON(spec.Git), ms(t), ms(t), ms(t))
		if isUnique(err) {
			return store.Run{}, false, fmt.Errorf("run %s: %w", spec.RunKey, store.ErrExists)
		}
		if err != nil {
			return store.Run{}, false, fmt.Errorf("insert run: %w", err)
		}
	}
	fields, err := addFields(ctx, tx, &db.fields, projectID, spec.Config, nil)
	if err != nil {
		return store.Run{}, false, fmt.Errorf("upsert run %s: %w", spec.RunKey, err)
	}
	r, err := getRun(ctx, tx, spec.RunKey)
	if err != nil {
		return r, false, err
	}
	if spec.StepsAfterLast && spec.Op.Writer != "" && r.LastStep >= 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO writer_bases (run_id, writer, base) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			r.PK, spec.Op.Writer, r.LastStep+1); err != nil {
			return store.Run{}, false, fmt.Errorf("upsert run %s: writer base: %w", spec.RunKey, err)
		}
	}
	if !resumed {
		// A new run: its op cannot have been applied before.
		if _, err := recordOp(ctx, tx, r.PK, spec.Op); err != nil {
			return store.Run{}, false, opErr("upsert run", spec.RunKey, spec.Op, false, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return store.Run{}, false, fmt.Errorf("upsert run: commit: %w", err)
	}
	db.fields.addAll(fields)
	return r, resumed, nil
}

func resumeRun(ctx context.Context, tx *sql.Tx, r store.Run, spec store.RunSpec, t interface{ UnixMilli() int64 }) error {
	cfg := r.Config
	for k, v := range spec.Config {
		cfg[k] = v
	}
	tags := r.Tags
	if spec.Tags != nil {
		tags = spec.Tags
	}
	set := func(old, new string) string {
		if new != "" {
			return new
		}
		return old
	}
	_, err := tx.ExecContext(ctx, `UPDATE runs SET state = ?, finished_at = NULL, exit_code = NULL, heartbeat_at = ?, updated_at = ?,
		config = jsonb(?), tags = ?, name = ?, run_group = ?, job_type = ?, notes = ?, host = ?, program = ? WHERE id = ?`,
		store.StateRunning, t.UnixMilli(), t.UnixMilli(), mustJSON(cfg), mustJSON(tags), set(r.Name, spec.Name),
		set(r.Group, spec.Group), set(r.JobType, spec.JobType), set(r.Notes, spec.Notes), set(r.Host, spec.Host),
		set(r.Program, spec.Program), r.PK)
	if err != nil {
		return fmt.Errorf("resume run %s: %w", r.RunKey, err)
	}
	return nil
}

// recordOp remembers op as applied to the run in tx, in the table that
// remembers batches (a writer's ops and batches share one seq space); dup
// is true when it was recorded before. An op without a writer is not
// recorded. A failed op rolls its transaction back, record included, so
// only applied ops are remembered.
func recordOp(ctx context.Context, tx *sql.Tx, runPK int64, op store.OpID) (dup bool, err error) {
	if op.Writer == "" {
		return false, nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO ingest_batches (run_id, writer, seq) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		runPK, op.Writer, op.Seq)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 0, err
}

// opErr is the error of an op that recordOp found applied before (dup) or
// could not record (err).
func opErr(what string, key store.RunKey, op store.OpID, dup bool, err error) error {
	if dup {
		return fmt.Errorf("%s %s: op %s/%d: %w", what, key, op.Writer, op.Seq, store.ErrDuplicate)
	}
	return fmt.Errorf("%s %s: record op: %w", what, key, err)
}

// UpdateRun implements store.Runs.
func (db *DB) UpdateRun(ctx context.Context, key store.RunKey, u store.RunUpdate) (store.Run, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return store.Run{}, fmt.Errorf("update run: begin: %w", err)
	}
	defer tx.Rollback()
	r, err := getRun(ctx, tx, key)
	if err != nil {
		return r, err
	}
	if dup, err := recordOp(ctx, tx, r.PK, u.Op); err != nil || dup {
		return store.Run{}, opErr("update run", key, u.Op, dup, err)
	}
	if u.Config != nil {
		var changed []string
		for k, v := range u.Config {
			if old, ok := r.Config[k]; ok && !u.AllowValChange && !reflect.DeepEqual(old, v) {
				changed = append(changed, k)
			}
		}
		if len(changed) > 0 {
			sort.Strings(changed)
			return store.Run{}, fmt.Errorf("config keys %s already have other values; set allow_val_change to change them: %w",
				strings.Join(changed, ", "), store.ErrConflict)
		}
		for k, v := range u.Config {
			r.Config[k] = v
		}
	}
	mergeSummary(r.Summary, u.Summary)
	if u.Tags != nil {
		r.Tags = *u.Tags
	}
	str := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	str(&r.Name, u.Name)
	str(&r.Notes, u.Notes)
	str(&r.Group, u.Group)
	str(&r.JobType, u.JobType)
	t := now(u.Now)
	_, err = tx.ExecContext(ctx, `UPDATE runs SET name = ?, config = jsonb(?), summary = jsonb(?), tags = ?, notes = ?, run_group = ?,
		job_type = ?, updated_at = ? WHERE id = ?`,
		r.Name, mustJSON(r.Config), mustJSON(r.Summary), mustJSON(r.Tags), r.Notes, r.Group, r.JobType, ms(t), r.PK)
	if err != nil {
		return store.Run{}, fmt.Errorf("update run %s: %w", key, err)
	}
	fields, err := addFields(ctx, tx, &db.fields, r.ProjectPK, u.Config, u.Summary)
	if err != nil {
		return store.Run{}, fmt.Errorf("update run %s: %w", key, err)
	}
	r, err = getRun(ctx, tx, key)
	if err != nil {
		return r, err
	}
	if err := tx.Commit(); err != nil {
		return store.Run{}, fmt.Errorf("update run: commit: %w", err)
	}
	db.fields.addAll(fields)
	return r, nil
}

// mergeSummary merges src into dst at the top level; a nil value deletes.
func mergeSummary(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
		} else {
			dst[k] = v
		}
	}
}

// FinishRun implements store.Runs.
func (db *DB) FinishRun(ctx context.Context, key store.RunKey, f store.RunFinish) (store.Run, error) {
	state := f.State
	if state == "" {
		state = store.StateFinished
		if f.ExitCode != nil && *f.ExitCode != 0 {
			state = store.StateFailed
		}
	}
	if !store.TerminalState(state) {
		return store.Run{}, fmt.Errorf("finish run %s: state %q: %w: use finished, failed, killed, crashed or preempted", key, state, store.ErrInvalid)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return store.Run{}, fmt.Errorf("finish run: begin: %w", err)
	}
	defer tx.Rollback()
	r, err := getRun(ctx, tx, key)
	if err != nil {
		return r, err
	}
	if dup, err := recordOp(ctx, tx, r.PK, f.Op); err != nil || dup {
		return store.Run{}, opErr("finish run", key, f.Op, dup, err)
	}
	t := now(f.Now)
	var exit any
	if f.ExitCode != nil {
		exit = *f.ExitCode
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET state = ?, exit_code = ?, finished_at = ?, updated_at = ?, heartbeat_at = ? WHERE id = ?`,
		state, exit, ms(t), ms(t), ms(t), r.PK); err != nil {
		return store.Run{}, fmt.Errorf("finish run %s: %w", key, err)
	}
	r, err = getRun(ctx, tx, key)
	if err != nil {
		return r, err
	}
	if err := tx.Commit(); err != nil {
		return store.Run{}, fmt.Errorf("finish run: commit: %w", err)
	}
	return r, nil
}

// ListRuns implements store.Runs.
func (db *DB) ListRuns(ctx context.Context, q store.RunQuery) (store.RunPage, error) {
	where, args, err := compileFilter(q.Filter)
	if err != nil {
		return store.RunPage{}, fmt.Errorf("list runs: %w", err)
	}
	order, orderArgs, err := compileSort(q.Sort)
	if err != nil {
		return store.RunPage{}, fmt.Errorf("list runs: %w", err)
	}
	base := runFrom + ` WHERE r.project_id = ?`
	allArgs := append([]any{q.ProjectPK}, args...)
	if where != "" {
		base += " AND (" + where + ")"
	}
	var page store.RunPage
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	// One scan finds the page's ids and the total; the sorter carries only
	// ids and sort keys, and whole rows are read for the page alone.
	idRows, err := db.r.QueryContext(ctx, `SELECT r.id, count(*) OVER ()`+base+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(append(allArgs, orderArgs...), limit, q.Offset)...)
	if err != nil {
		return page, fmt.Errorf("list runs: %w", err)
	}
	var ids []any
	for idRows.Next() {
		var id int64
		if err := idRows.Scan(&id, &page.Total); err != nil {
			idRows.Close()
			return page, fmt.Errorf("list runs: %w", err)
		}
		ids = append(ids, id)
	}
	idRows.Close()
	if err := idRows.Err(); err != nil {
		return page, fmt.Errorf("list runs: %w", err)
	}
	page.Runs = []store.Run{}
	if len(ids) == 0 {
		// Past the last page: the total still needs counting.
		if err := db.r.QueryRowContext(ctx, `SELECT count(*)`+base, allArgs...).Scan(&page.Total); err != nil {
			return page, fmt.Errorf("list runs: count: %w", err)
		}
		return page, nil
	}
	ph := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	rows, err := db.r.QueryContext(ctx, `SELECT `+runCols+runFrom+` WHERE r.id IN (`+ph+`)`, ids...)
	if err != nil {
		return page, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	byID := map[int64]store.Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return page, fmt.Errorf("list runs: %w", err)
		}
		byID[r.PK] = r
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("list runs: %w", err)
	}
	for _, id := range ids {
		if r, ok := byID[id.(int64)]; ok {
			page.Runs = append(page.Runs, r)
		}
	}
	return page, nil
}

// runTables are the tables holding a run's rows, by their run_id column.
var runTables = []string{"history", "hist_log", "hist_chunks", "run_keys", "console", "system_samples",
	"alerts", "files", "ingest_batches", "writer_bases", "writer_progress"}

// DeleteRun implements store.Runs. It holds the compaction lock, so a
// compaction that read the run's points before cannot write its chunks
// back after.
func (db *DB) DeleteRun(ctx context.Context, key store.RunKey, byUser int64) (store.DeletedRun, error) {
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return store.DeletedRun{}, fmt.Errorf("delete run: begin: %w", err)
	}
	defer tx.Rollback()
	r, err := getRun(ctx, tx, key)
	if err != nil {
		return store.DeletedRun{}, err
	}
	out := store.DeletedRun{Run: r, UnusedBlobs: []string{}}
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT blob_key FROM files f WHERE run_id = ?
		AND NOT EXISTS (SELECT 1 FROM files g WHERE g.blob_key = f.blob_key AND g.run_id != f.run_id) ORDER BY blob_key`, r.PK)
	if err != nil {
		return store.DeletedRun{}, fmt.Errorf("delete run %s: blobs: %w", key, err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return store.DeletedRun{}, fmt.Errorf("delete run %s: blobs: %w", key, err)
		}
		out.UnusedBlobs = append(out.UnusedBlobs, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return store.DeletedRun{}, fmt.Errorf("delete run %s: blobs: %w", key, err)
	}
	for _, t := range runTables {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE run_id = ?`, r.PK); err != nil {
			return store.DeletedRun{}, fmt.Errorf("delete run %s: %s: %w", key, t, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO deleted_runs (id, project_id, run_id, deleted_at, deleted_by) VALUES (?, ?, ?, ?, ?)`,
		r.PK, r.ProjectPK, r.RunID, ms(time.Now()), byUser); err != nil {
		return store.DeletedRun{}, fmt.Errorf("delete run %s: record: %w", key, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id = ?`, r.PK); err != nil {
		return store.DeletedRun{}, fmt.Errorf("delete run %s: %w", key, err)
	}
	if err := tx.Commit(); err != nil {
		return store.DeletedRun{}, fmt.Errorf("delete run %s: commit: %w", key, err)
	}
	// The PK is never given again, so the chart cache's entries of the run
	// are never asked for; they age out.
	return out, nil
}

// MarkLost implements store.Runs.
func (db *DB) MarkLost(ctx context.Context, before, now time.Time) ([]store.Run, error) {
	rows, err := db.w.QueryContext(ctx, `UPDATE runs SET state = ?, updated_at = ? WHERE state = ? AND heartbeat_at < ? RETURNING id`,
		store.StateLost, ms(now), store.StateRunning, ms(before))
	if err != nil {
		return nil, fmt.Errorf("mark lost runs: %w", err)
	}
	var ids []any
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("mark lost runs: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mark lost runs: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	ph := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	rs, err := db.r.QueryContext(ctx, `SELECT `+runCols+runFrom+` WHERE r.id IN (`+ph+`) ORDER BY r.id`, ids...)
	if err != nil {
		return nil, fmt.Errorf("read lost runs: %w", err)
	}
	defer rs.Close()
	var out []store.Run
	for rs.Next() {
		r, err := scanRun(rs)
		if err != nil {
			return nil, fmt.Errorf("read lost runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read lost runs: %w", err)
	}
	return out, nil
}
