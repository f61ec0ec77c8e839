package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/fluoro-dev/fluoro/internal/history"
)

// RunKeys implements history.Reader. The rows come in key-id order (the
// primary key) and are sorted here: cheaper than SQLite's sorter, and the
// names are read by rowid, not through the name index.
func (db *DB) RunKeys(ctx context.Context, runPK int64) ([]history.KeyInfo, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT k.name, rk.points, rk.min_step, rk.max_step, rk.type FROM run_keys rk
		JOIN metric_keys k ON k.id = rk.key_id WHERE rk.run_id = ?`, runPK)
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
		k.Type = internType(k.Type)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("run keys: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// FindRunKeys implements history.KeyFinder: one indexed lookup per key.
func (db *DB) FindRunKeys(ctx context.Context, runPK int64, keys []string) ([]history.KeyInfo, error) {
	st, err := db.readStmt(ctx, `SELECT rk.points, rk.min_step, rk.max_step, rk.type FROM runs r
		JOIN metric_keys k ON k.project_id = r.project_id AND k.name = ?
		JOIN run_keys rk ON rk.run_id = r.id AND rk.key_id = k.id WHERE r.id = ?`)
	if err != nil {
		return nil, fmt.Errorf("find run keys: %w", err)
	}
	out := []history.KeyInfo{}
	for _, key := range keys {
		k := history.KeyInfo{Key: key}
		switch err := st.QueryRowContext(ctx, key, runPK).Scan(&k.Points, &k.MinStep, &k.MaxStep, &k.Type); {
		case err == nil:
			out = append(out, k)
		case errors.Is(err, sql.ErrNoRows):
		default:
			return nil, fmt.Errorf("find run key %q: %w", key, err)
		}
	}
	return out, nil
}

// ProjectKeys implements history.Reader. Names come from the
// (project_id, name) index alone, already in order; the few keys whose
// type is not a number come from a partial index (migration 4), so the
// table itself is not read once per key. The list is then kept until
// ingest adds a key to the project or changes a key's type.
func (db *DB) ProjectKeys(ctx context.Context, projectPK int64) ([]history.KeyType, error) {
	ver, kl := db.keyLists.get(projectPK)
	if kl != nil {
		return kl.keys(), nil
	}
	out, typed, err := db.projectKeys(ctx, projectPK)
	if err != nil {
		return nil, err
	}
	db.keyLists.put(projectPK, ver, out, typed)
	return out, nil
}

func (db *DB) projectKeys(ctx context.Context, projectPK int64) ([]history.KeyType, map[string]string, error) {
	typed := map[string]string{}
	rows, err := db.r.QueryContext(ctx, `SELECT name, type FROM metric_keys WHERE project_id = ? AND type != 'number'`, projectPK)
	if err != nil {
		return nil, nil, fmt.Errorf("project keys: %w", err)
	}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("project keys: %w", err)
		}
		typed[name] = typ
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("project keys: %w", err)
	}
	rows, err = db.r.QueryContext(ctx, `SELECT name FROM metric_keys WHERE project_id = ? ORDER BY name`, projectPK)
	if err != nil {
		return nil, nil, fmt.Errorf("project keys: %w", err)
	}
	defer rows.Close()
	out := []history.KeyType{}
	for rows.Next() {
		k := history.KeyType{Type: history.TypeNumber}
		if err := rows.Scan(&k.Key); err != nil {
			return nil, nil, fmt.Errorf("project keys: %w", err)
		}
		if t, ok := typed[k.Key]; ok {
			k.Type = t
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("project keys: %w", err)
	}
	return out, typed, nil
}

// internType returns the shared "number" string for numeric keys, so that
// a long key list does not hold a copy per key.
func internType(t string) string {
	if t == history.TypeNumber {
		return history.TypeNumber
	}
	return t
}

// keyLists keeps each project's key list, in one string with end offsets
// (a million names in about 30 MB), valid while the project's version is
// unchanged. Ingest bumps the version after committing new keys or types,
// and a list is stored under the version read before its query began, so
// a list is never taken for newer than it is.
type keyLists struct {
	mu    sync.Mutex
	vers  map[int64]uint64
	lists map[int64]*keyList
	size  int
}

type keyList struct {
	ver   uint64
	names string
	ends  []uint32
	typed map[string]string
}

// keyListBytes bounds the names kept, all projects together.
const keyListBytes = 64 << 20

// get returns the project's version and its list, if current.
func (k *keyLists) get(project int64) (uint64, *keyList) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v := k.vers[project]
	if l := k.lists[project]; l != nil && l.ver == v {
		return v, l
	}
	return v, nil
}

func (k *keyLists) put(project int64, ver uint64, ks []history.KeyType, typed map[string]string) {
	n := 0
	for _, kt := range ks {
		n += len(kt.Key)
	}
	if n > keyListBytes || n >= 1<<32 {
		return
	}
	var b strings.Builder
	b.Grow(n)
	ends := make([]uint32, len(ks))
	for i, kt := range ks {
		b.WriteString(kt.Key)
		ends[i] = uint32(b.Len())
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.vers[project] != ver {
		return // changed meanwhile
	}
	if k.lists == nil {
		k.lists = map[int64]*keyList{}
	}
	if old := k.lists[project]; old != nil {
		k.size -= len(old.names)
	}
	for p, l := range k.lists {
		if k.size+n <= keyListBytes {
			break
		}
		k.size -= len(l.names)
		delete(k.lists, p)
	}
	k.lists[project] = &keyList{ver: ver, names: b.String(), ends: ends, typed: typed}
	k.size += n
}

// changed bumps the versions of the projects of keys ingest has just
// committed (new keys, or new types).
func (k *keyLists) changed(keys map[keyRef]keyEntry) {
	if len(keys) == 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.vers == nil {
		k.vers = map[int64]uint64{}
	}
	seen := map[int64]bool{}
	for ref := range keys {
		if !seen[ref.project] {
			seen[ref.project] = true
			k.vers[ref.project]++
		}
	}
}

// keys returns the list as KeyTypes (names share the list's memory).
func (l *keyList) keys() []history.KeyType {
	out := make([]history.KeyType, len(l.ends))
	start := uint32(0)
	for i, end := range l.ends {
		out[i] = history.KeyType{Key: l.names[start:end], Type: history.TypeNumber}
		if len(l.typed) > 0 {
			if t, ok := l.typed[out[i].Key]; ok {
				out[i].Type = t
			}
		}
		start = end
	}
	return out
}
