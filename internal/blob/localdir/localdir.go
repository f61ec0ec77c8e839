// Package localdir is the default blob backend: one file per blob under a
// directory. Writes go to a temporary file that is fsynced and renamed into
// place, then the directory is fsynced, so a Put that returned is durable
// and a crash never leaves a half-written blob under its key.
package localdir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fluoro-dev/fluoro/internal/blob"
)

// tmpDir holds uploads in progress; it is not a valid key (leading dot).
const tmpDir = ".tmp"

// Dir is a blob.Store rooted at a directory.
type Dir struct {
	root string
}

var _ blob.Store = (*Dir)(nil)

// Open returns a store rooted at dir, creating it if needed.
func Open(dir string) (*Dir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open blob dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("open blob dir %s: %w", dir, err)
	}
	return &Dir{root: abs}, nil
}

func (d *Dir) path(key string) (string, error) {
	if err := blob.ValidKey(key); err != nil {
		return "", err
	}
	if strings.HasPrefix(key, ".") {
		return "", fmt.Errorf("%w: %q starts with '.'", blob.ErrInvalidKey, key)
	}
	p := filepath.Join(d.root, filepath.FromSlash(key))
	// ValidKey rules out escapes; this check keeps it that way if it changes.
	if !strings.HasPrefix(p, d.root+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: %q leaves the store", blob.ErrInvalidKey, key)
	}
	return p, nil
}

// Put implements blob.Store.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	p, err := d.path(key)
	if err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(filepath.Join(d.root, tmpDir), "put-*")
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return n, fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return n, fmt.Errorf("put %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return n, fmt.Errorf("put %s: %w", key, err)
	}
	return n, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Get implements blob.Store.
func (d *Dir) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("get %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("get %s: %w", key, blob.ErrNotFound)
	}
	return f, nil
}

// Stat implements blob.Store.
func (d *Dir) Stat(ctx context.Context, key string) (blob.Attrs, error) {
	p, err := d.path(key)
	if err != nil {
		return blob.Attrs{}, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && st.IsDir()) {
		return blob.Attrs{}, fmt.Errorf("stat %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return blob.Attrs{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return blob.Attrs{Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Delete implements blob.Store.
func (d *Dir) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return fmt.Errorf("delete %s: %w", key, blob.ErrNotFound)
	}
	err = os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// Rename implements blob.Store: a rename(2) within the directory, then an
// fsync of both parent directories.
func (d *Dir) Rename(ctx context.Context, from, to string) error {
	src, err := d.path(from)
	if err != nil {
		return err
	}
	dst, err := d.path(to)
	if err != nil {
		return err
	}
	st, err := os.Stat(src)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && st.IsDir()) {
		return fmt.Errorf("rename %s: %w", from, blob.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("rename %s: %w", from, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	if filepath.Dir(src) != filepath.Dir(dst) {
		if err := syncDir(filepath.Dir(src)); err != nil {
			return fmt.Errorf("rename %s to %s: %w", from, to, err)
		}
	}
	return nil
}

// List implements blob.Store.
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	keys := []string{}
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.root, p)
		if e.IsDir() {
			if rel == tmpDir {
				return filepath.SkipDir
			}
			return nil
		}
		key := filepath.ToSlash(rel)
		if strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	sort.Strings(keys)
	return keys, nil
}

// Close implements blob.Store.
func (d *Dir) Close() error { return nil }
