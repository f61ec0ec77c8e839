// Package blob defines where Fluoro keeps file contents: run files today,
// media and artifacts later. A Store is a flat namespace of keys with
// slash-separated names; backends live in subpackages (localdir today, an
// S3-compatible bucket later) and must pass the blobtest conformance suite.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNotFound is returned for a key that holds no blob.
var ErrNotFound = errors.New("blob not found")

// ErrInvalidKey is returned for a key that ValidKey rejects.
var ErrInvalidKey = errors.New("invalid blob key")

// Attrs describes a stored blob.
type Attrs struct {
	Size    int64
	ModTime time.Time
}

// Store holds blobs by key. Put is atomic: readers see the old blob or the
// whole new one, and a Put that returned nil is durable.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Get opens a blob. Backends that can seek return an io.ReadSeekCloser,
	// which lets HTTP serve byte ranges.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (Attrs, error)
	Delete(ctx context.Context, key string) error
	// Rename moves the blob at from to to, replacing any blob there, as
	// atomically and durably as Put; ErrNotFound if from holds none. Uploads
	// use it to file a blob under its content digest once it is known.
	Rename(ctx context.Context, from, to string) error
	// List returns the keys that start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	Close() error
}

// MaxKeyLen is the longest key a Store accepts, in bytes.
const MaxKeyLen = 1024

// ValidKey checks that key is a clean relative path: valid UTF-8, no control
// characters or backslashes, no empty, "." or ".." segments, no leading or
// trailing slash. Every backend calls it, so user input that reaches a key
// can never name something outside the store.
func ValidKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("%w: control character or backslash in %q", ErrInvalidKey, key)
		}
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q has an empty, '.' or '..' segment", ErrInvalidKey, key)
		}
	}
	return nil
}
