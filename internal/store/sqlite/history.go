package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"

	"github.com/fluoro-dev/fluoro/internal/history"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// Scan implements history.Reader.
func (db *DB) Scan(ctx context.Context, runPK int64, key string, r history.Range, fn func(history.Point) error) error {
	rows, err := db.r.QueryContext(ctx, `SELECT h.step, h.wall, h.kind, h.num, h.txt FROM history h
		JOIN runs r ON r.id = h.run_id
		JOIN metric_keys k ON k.id = h.key_id AND k.project_id = r.project_id
		WHERE h.run_id = ? AND k.name = ? AND h.step >= ? AND h.step <= ? ORDER BY h.step`, runPK, key, r.Min, r.Max)
	if err != nil {
		return fmt.Errorf("scan history %q: %w", key, err)
	}
	defer rows.Close()
	for rows.Next() {
		var p history.Point
		var kind int
		var num sql.NullFloat64
		var txt sql.NullString
		if err := rows.Scan(&p.Step, &p.Time, &kind, &num, &txt); err != nil {
			return fmt.Errorf("scan history %q: %w", key, err)
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
		if err := fn(p); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan history %q: %w", key, err)
	}
	return nil
}

// RunKeys implements history.Reader.
func (db *DB) RunKeys(ctx context.Context, runPK int64) ([]history.KeyInfo, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT k.name, rk.points, rk.min_step, rk.max_step FROM run_keys rk
		JOIN metric_keys k ON k.id = rk.key_id WHERE rk.run_id = ? ORDER BY k.name`, runPK)
	if err != nil {
		return nil, fmt.Errorf("run keys: %w", err)
	}
	defer rows.Close()
	out := []history.KeyInfo{}
	for rows.Next() {
		var k history.KeyInfo
		if err := rows.Scan(&k.Key, &k.Points, &k.MinStep, &k.MaxStep); err != nil {
			return nil, fmt.Errorf("run keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("run keys: %w", err)
	}
	return out, nil
}

// ProjectKeys implements history.Reader.
func (db *DB) ProjectKeys(ctx context.Context, projectPK int64) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name FROM metric_keys WHERE project_id = ? ORDER BY name`, projectPK)
	if err != nil {
		return nil, fmt.Errorf("project keys: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("project keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("project keys: %w", err)
	}
	return out, nil
}
