package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/fluoro-dev/fluoro/internal/store"
)

// Field kinds in run_fields.
const (
	fieldConfig  = "config"
	fieldSummary = "summary"
)

// fieldRow is one row of run_fields.
type fieldRow struct {
	project    int64
	kind, path string
}

// fieldCache holds run_fields rows known to be committed, so that a
// summary sent with every ingest batch is not inserted again each time
// (20 inserts a batch cost small batches ~25 % of their rate). Like
// keyCache it learns rows only after a commit, so a rolled-back
// transaction never leaves a row that is not in the table.
type fieldCache struct {
	mu   sync.Mutex
	rows map[fieldRow]struct{}
}

const maxCachedFields = 1 << 18

func (c *fieldCache) has(r fieldRow) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.rows[r]
	return ok
}

// addAll learns rows of a committed transaction.
func (c *fieldCache) addAll(rows []fieldRow) {
	if len(rows) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rows == nil || len(c.rows)+len(rows) > maxCachedFields {
		c.rows = make(map[fieldRow]struct{}, len(rows))
	}
	for _, r := range rows {
		c.rows[r] = struct{}{}
	}
}

// addFields records in tx the config paths of cfg and the summary keys of
// sum as fields of the project's runs (either may be nil), skipping rows
// the cache knows. It returns the rows it wrote, for the cache once tx
// commits.
func addFields(ctx context.Context, tx *sql.Tx, cache *fieldCache, projectPK int64, cfg, sum map[string]any) ([]fieldRow, error) {
	var err error
	var wrote []fieldRow
	add := func(kind string) func(string) {
		return func(path string) {
			r := fieldRow{projectPK, kind, path}
			if err != nil || cache.has(r) {
				return
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO run_fields (project_id, kind, path) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				projectPK, kind, path)
			wrote = append(wrote, r)
		}
	}
	store.ConfigPaths(cfg, add(fieldConfig))
	store.SummaryPaths(sum, add(fieldSummary))
	if err != nil {
		return nil, fmt.Errorf("record run fields: %w", err)
	}
	return wrote, nil
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
