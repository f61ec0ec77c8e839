package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fluoro-dev/fluoro/internal/store"
)

var timeZero time.Time

// CreateEntity implements store.Projects.
func (db *DB) CreateEntity(ctx context.Context, e store.Entity) (store.Entity, error) {
	if !store.ValidName(e.Name) {
		return store.Entity{}, fmt.Errorf("create entity %q: %w: names are 1-128 letters, digits, '_', '-', '.'", e.Name, store.ErrInvalid)
	}
	e.CreatedAt = now(e.CreatedAt).UTC()
	var owner any
	if e.OwnerUserID != 0 {
		owner = e.OwnerUserID
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO entities (name, kind, owner_user_id, created_at) VALUES (?, ?, ?, ?)`,
		e.Name, e.Kind, owner, ms(e.CreatedAt))
	if isUnique(err) {
		return store.Entity{}, fmt.Errorf("create entity %q: %w", e.Name, store.ErrExists)
	}
	if err != nil {
		return store.Entity{}, fmt.Errorf("create entity %q: %w", e.Name, err)
	}
	e.ID, _ = res.LastInsertId()
	return e, nil
}

func scanEntity(row interface{ Scan(...any) error }) (store.Entity, error) {
	var e store.Entity
	var owner sql.NullInt64
	var created int64
	if err := row.Scan(&e.ID, &e.Name, &e.Kind, &owner, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return e, store.ErrNotFound
		}
		return e, err
	}
	e.OwnerUserID = owner.Int64
	e.CreatedAt = fromMS(created)
	return e, nil
}

// EntityByName implements store.Projects.
func (db *DB) EntityByName(ctx context.Context, name string) (store.Entity, error) {
	e, err := scanEntity(db.r.QueryRowContext(ctx, `SELECT id, name, kind, owner_user_id, created_at FROM entities WHERE name = ?`, name))
	if err != nil {
		return e, fmt.Errorf("entity %q: %w", name, err)
	}
	return e, nil
}

// ListEntities implements store.Projects.
func (db *DB) ListEntities(ctx context.Context) ([]store.Entity, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, name, kind, owner_user_id, created_at FROM entities ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list entities: %w", err)
	}
	defer rows.Close()
	var out []store.Entity
	for rows.Next() {
		e, err := scanEntity(rows)
		if err != nil {
			return nil, fmt.Errorf("list entities: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list entities: %w", err)
	}
	return out, nil
}

const projectCols = `p.id, p.entity_id, e.name, p.name, p.created_at, p.updated_at,
	(SELECT count(*) FROM runs r WHERE r.project_id = p.id)`

func scanProject(row interface{ Scan(...any) error }) (store.Project, error) {
	var p store.Project
	var created, updated int64
	if err := row.Scan(&p.ID, &p.EntityID, &p.Entity, &p.Name, &created, &updated, &p.RunCount); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return p, store.ErrNotFound
		}
		return p, err
	}
	p.CreatedAt, p.UpdatedAt = fromMS(created), fromMS(updated)
	return p, nil
}

// ListProjects implements store.Projects.
func (db *DB) ListProjects(ctx context.Context, entityID int64) ([]store.Project, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+projectCols+` FROM projects p JOIN entities e ON e.id = p.entity_id
		WHERE p.entity_id = ? ORDER BY p.updated_at DESC, p.name`, entityID)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	var out []store.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("list projects: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return out, nil
}

// ProjectByName implements store.Projects.
func (db *DB) ProjectByName(ctx context.Context, entity, project string) (store.Project, error) {
	p, err := scanProject(db.r.QueryRowContext(ctx, `SELECT `+projectCols+` FROM projects p JOIN entities e ON e.id = p.entity_id
		WHERE e.name = ? AND p.name = ?`, entity, project))
	if err != nil {
		return p, fmt.Errorf("project %s/%s: %w", entity, project, err)
	}
	return p, nil
}
