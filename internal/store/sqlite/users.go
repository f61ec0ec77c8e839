package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/fluoro-dev/fluoro/internal/store"
)

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// CreateUser implements store.Users.
func (db *DB) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	u.CreatedAt = now(u.CreatedAt).UTC()
	res, err := db.w.ExecContext(ctx, `INSERT INTO users (name, email, is_admin, created_at) VALUES (?, ?, ?, ?)`,
		u.Name, u.Email, u.Admin, ms(u.CreatedAt))
	if isUnique(err) {
		return store.User{}, fmt.Errorf("create user %q: %w", u.Name, store.ErrExists)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("create user %q: %w", u.Name, err)
	}
	u.ID, _ = res.LastInsertId()
	return u, nil
}

func scanUser(row interface{ Scan(...any) error }) (store.User, error) {
	var u store.User
	var created int64
	if err := row.Scan(&u.ID, &u.Name, &u.Email, &u.Admin, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return u, store.ErrNotFound
		}
		return u, err
	}
	u.CreatedAt = fromMS(created)
	return u, nil
}

const userCols = `u.id, u.name, u.email, u.is_admin, u.created_at`

// UserByName implements store.Users.
func (db *DB) UserByName(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.name = ?`, name))
	if err != nil {
		return u, fmt.Errorf("user %q: %w", name, err)
	}
	return u, nil
}

// UserByID implements store.Users.
func (db *DB) UserByID(ctx context.Context, id int64) (store.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = ?`, id))
	if err != nil {
		return u, fmt.Errorf("user %d: %w", id, err)
	}
	return u, nil
}

// CountUsers implements store.Users.
func (db *DB) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// AddAPIKey implements store.Users.
func (db *DB) AddAPIKey(ctx context.Context, userID int64, name string, hash []byte, prefix string) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO api_keys (user_id, name, hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)`,
		userID, name, hash, prefix, ms(now(timeZero)))
	if isUnique(err) {
		return fmt.Errorf("add api key: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add api key: %w", err)
	}
	return nil
}

// UserByAPIKeyHash implements store.Users.
func (db *DB) UserByAPIKeyHash(ctx context.Context, hash []byte) (store.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx,
		`SELECT `+userCols+` FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = ?`, hash))
	if err != nil {
		return u, fmt.Errorf("user by api key: %w", err)
	}
	return u, nil
}
