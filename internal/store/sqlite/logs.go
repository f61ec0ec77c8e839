package sqlite

import (
	"context"
	"fmt"

	"github.com/fluoro-dev/fluoro/internal/store"
)

// ConsoleLines implements store.Logs: lines after offset `after`, in order.
func (db *DB) ConsoleLines(ctx context.Context, runPK, after int64, limit int) ([]store.ConsoleLine, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, time, stream, line FROM console WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?`,
		runPK, after, limit)
	if err != nil {
		return nil, fmt.Errorf("console lines: %w", err)
	}
	defer rows.Close()
	out := []store.ConsoleLine{}
	for rows.Next() {
		var l store.ConsoleLine
		if err := rows.Scan(&l.Offset, &l.Time, &l.Stream, &l.Line); err != nil {
			return nil, fmt.Errorf("console lines: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("console lines: %w", err)
	}
	return out, nil
}

// SystemSamples implements store.Logs: the most recent samples, oldest first.
func (db *DB) SystemSamples(ctx context.Context, runPK int64, limit int) ([]store.SystemSample, error) {
	if limit <= 0 {
		limit = 10000
	}
	rows, err := db.r.QueryContext(ctx, `SELECT time, metrics FROM (SELECT id, time, metrics FROM system_samples
		WHERE run_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id`, runPK, limit)
	if err != nil {
		return nil, fmt.Errorf("system samples: %w", err)
	}
	defer rows.Close()
	out := []store.SystemSample{}
	for rows.Next() {
		var s store.SystemSample
		var m string
		if err := rows.Scan(&s.Time, &m); err != nil {
			return nil, fmt.Errorf("system samples: %w", err)
		}
		if err := jsonUnmarshal(m, &s.Values); err != nil {
			return nil, fmt.Errorf("system samples: decode: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("system samples: %w", err)
	}
	return out, nil
}

// Alerts implements store.Logs: the most recent alerts, newest first.
func (db *DB) Alerts(ctx context.Context, runPK int64, limit int) ([]store.Alert, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, time, title, text, level, wait_ms, suppressed FROM alerts
		WHERE run_id = ? ORDER BY id DESC LIMIT ?`, runPK, limit)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	defer rows.Close()
	out := []store.Alert{}
	for rows.Next() {
		var a store.Alert
		if err := rows.Scan(&a.ID, &a.Time, &a.Title, &a.Text, &a.Level, &a.WaitMS, &a.Suppressed); err != nil {
			return nil, fmt.Errorf("alerts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	return out, nil
}
