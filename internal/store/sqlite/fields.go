package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/fluoro-dev/fluoro/internal/store"
)

// Field kinds in run_fields.
const (
	fieldConfig  = "config"
	fieldSummary = "summary"
)

// addFields records in tx the config paths of cfg and the summary keys of
// sum as fields of the project's runs (either may be nil).
func addFields(ctx context.Context, tx *sql.Tx, projectPK int64, cfg, sum map[string]any) error {
	var err error
	add := func(kind string) func(string) {
		return func(path string) {
			if err != nil {
				return
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO run_fields (project_id, kind, path) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				projectPK, kind, path)
		}
	}
	store.ConfigPaths(cfg, add(fieldConfig))
	store.SummaryPaths(sum, add(fieldSummary))
	if err != nil {
		return fmt.Errorf("record run fields: %w", err)
	}
	return nil
}

// RunFieldPaths implements store.Runs.
func (db *DB) RunFieldPaths(ctx context.Context, projectPK int64, limit int) (store.FieldPaths, error) {
	var fp store.FieldPaths
	for _, k := range []struct {
		kind string
		dst  *[]string
	}{{fieldConfig, &fp.Config}, {fieldSummary, &fp.Summary}} {
		paths, err := db.fieldPaths(ctx, projectPK, k.kind, limit+1)
		if err != nil {
			return fp, err
		}
		if len(paths) > limit {
			paths, fp.Truncated = paths[:limit], true
		}
		*k.dst = paths
	}
	return fp, nil
}

func (db *DB) fieldPaths(ctx context.Context, projectPK int64, kind string, limit int) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT path FROM run_fields WHERE project_id = ? AND kind = ? ORDER BY path LIMIT ?`,
		projectPK, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("list %s fields: %w", kind, err)
	}
	defer rows.Close()
	paths := []string{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("list %s fields: %w", kind, err)
		}
		paths = append(paths, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s fields: %w", kind, err)
	}
	return paths, nil
}
