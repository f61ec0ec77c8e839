// Package blobgc deletes blob-store contents no run file refers to any more:
// digests left behind when a file was replaced (a save(policy="live") file
// uploaded again after each change, say), and uploads a crash cut short.
//
// A blob is a candidate only when it is older than a grace period, so an
// upload in progress (its temporary blob, or its digest blob whose file row
// is not stored yet) is never one. Before each deletion the collector takes
// the write side of the lock uploads hold while they file a blob and store
// its row, and asks the store again whether a file uses the blob: an upload
// that came to reuse the digest meanwhile keeps it.
package blobgc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fluoro-dev/fluoro/internal/blob"
)

// Prefixes of the blob keys the collector looks at (see internal/api/files.go).
const (
	DigestPrefix = "sha256/"  // content by digest, shared by files
	LegacyPrefix = "runs/"    // one file's content, from before digests
	UploadPrefix = "uploads/" // an upload being received; never a file's
)

// InUse says whether a run file refers to a blob key (store.Files).
type InUse interface {
	BlobInUse(ctx context.Context, key string) (bool, error)
}

// Options tune a collection; zero values take the defaults.
type Options struct {
	Grace       time.Duration // a file's blob this recent is kept (default 1 h)
	UploadGrace time.Duration // an upload this recent is kept (default 24 h)
	Lock        sync.Locker   // the write side of the uploads' lock; nil: none
	Log         *slog.Logger
	Now         func() time.Time
}

// Stats is what one collection did.
type Stats struct {
	Scanned int   // blobs looked at
	Deleted int   // blobs deleted
	Bytes   int64 // their size
}

// Collect deletes the unused blobs older than their grace.
func Collect(ctx context.Context, files InUse, blobs blob.Store, opts Options) (Stats, error) {
	if opts.Grace <= 0 {
		opts.Grace = time.Hour
	}
	if opts.UploadGrace <= 0 {
		opts.UploadGrace = 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	var st Stats
	for _, prefix := range []string{DigestPrefix, LegacyPrefix, UploadPrefix} {
		keys, err := blobs.List(ctx, prefix)
		if err != nil {
			return st, fmt.Errorf("blob gc: list %s: %w", prefix, err)
		}
		grace := opts.Grace
		if prefix == UploadPrefix {
			grace = opts.UploadGrace
		}
		for _, key := range keys {
			if err := ctx.Err(); err != nil {
				return st, err
			}
			st.Scanned++
			attrs, err := blobs.Stat(ctx, key)
			if errors.Is(err, blob.ErrNotFound) {
				continue // deleted meanwhile
			}
			if err != nil {
				return st, fmt.Errorf("blob gc: stat %s: %w", key, err)
			}
			if opts.Now().Sub(attrs.ModTime) < grace {
				continue
			}
			gone, err := collectOne(ctx, files, blobs, key, prefix != UploadPrefix, opts.Lock)
			if err != nil {
				return st, err
			}
			if gone {
				st.Deleted++
				st.Bytes += attrs.Size
				opts.Log.Debug("blob gc: deleted", "key", key, "size", attrs.Size)
			}
		}
	}
	return st, nil
}

// collectOne deletes key unless a file uses it (asked under the lock when
// check is set: an upload never refers to an uploads/ key).
func collectOne(ctx context.Context, files InUse, blobs blob.Store, key string, check bool, lock sync.Locker) (bool, error) {
	if check {
		used, err := files.BlobInUse(ctx, key)
		if err != nil || used {
			return false, err
		}
	}
	if lock != nil {
		lock.Lock()
		defer lock.Unlock()
	}
	if check {
		used, err := files.BlobInUse(ctx, key)
		if err != nil || used {
			return false, err
		}
	}
	switch err := blobs.Delete(ctx, key); {
	case err == nil:
		return true, nil
	case errors.Is(err, blob.ErrNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("blob gc: delete %s: %w", key, err)
	}
}
