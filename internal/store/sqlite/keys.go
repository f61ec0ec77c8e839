package sqlite

import (
	"context"
	"fmt"

	"github.com/fluoro-dev/fluoro/internal/history"
)

// RunKeys implements history.Reader.
func (db *DB) RunKeys(ctx context.Context, runPK int64) ([]history.KeyInfo, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT k.name, rk.points, rk.min_step, rk.max_step, rk.type FROM run_keys rk
		JOIN metric_keys k ON k.id = rk.key_id WHERE rk.run_id = ? ORDER BY k.name`, runPK)
	if err != nil {
		return nil, fmt.Errorf("run keys: %w", err)
	}
	defer rows.Close()
	out := []history.KeyInfo{}
	for rows.Next() {
		var k history.KeyInfo
		if err := rows.Scan(&k.Key, &k.Points, &k.MinStep, &k.MaxStep, &k.Type); err != nil {
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
func (db *DB) ProjectKeys(ctx context.Context, projectPK int64) ([]history.KeyType, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name, type FROM metric_keys WHERE project_id = ? ORDER BY name`, projectPK)
	if err != nil {
		return nil, fmt.Errorf("project keys: %w", err)
	}
	defer rows.Close()
	out := []history.KeyType{}
	for rows.Next() {
		var k history.KeyType
		if err := rows.Scan(&k.Key, &k.Type); err != nil {
			return nil, fmt.Errorf("project keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("project keys: %w", err)
	}
	return out, nil
}
