package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/fluoro-dev/fluoro/internal/store"
)

// PutFile implements store.Files: it records or replaces a run file.
func (db *DB) PutFile(ctx context.Context, f store.File) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO files (run_id, name, size, sha256, blob_key, content_type, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, name) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256,
		blob_key = excluded.blob_key, content_type = excluded.content_type, updated_at = excluded.updated_at`,
		f.RunPK, f.Name, f.Size, f.SHA256, f.BlobKey, f.ContentType, ms(now(f.UpdatedAt)))
	if err != nil {
		return fmt.Errorf("put file %q: %w", f.Name, err)
	}
	return nil
}

func scanFile(row interface{ Scan(...any) error }) (store.File, error) {
	var f store.File
	var updated int64
	err := row.Scan(&f.RunPK, &f.Name, &f.Size, &f.SHA256, &f.BlobKey, &f.ContentType, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return f, store.ErrNotFound
	}
	f.UpdatedAt = fromMS(updated)
	return f, err
}

const fileCols = `run_id, name, size, sha256, blob_key, content_type, updated_at`

// ListFiles implements store.Files.
func (db *DB) ListFiles(ctx context.Context, runPK int64) ([]store.File, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+fileCols+` FROM files WHERE run_id = ? ORDER BY name`, runPK)
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	defer rows.Close()
	out := []store.File{}
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, fmt.Errorf("list files: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	return out, nil
}

// File implements store.Files.
func (db *DB) File(ctx context.Context, runPK int64, name string) (store.File, error) {
	f, err := scanFile(db.r.QueryRowContext(ctx, `SELECT `+fileCols+` FROM files WHERE run_id = ? AND name = ?`, runPK, name))
	if err != nil {
		return f, fmt.Errorf("file %q: %w", name, err)
	}
	return f, nil
}

// BlobInUse implements store.Files (an index lookup, migration 9).
func (db *DB) BlobInUse(ctx context.Context, key string) (bool, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM files WHERE blob_key = ?)`, key).Scan(&n); err != nil {
		return false, fmt.Errorf("blob in use: %w", err)
	}
	return n == 1, nil
}
