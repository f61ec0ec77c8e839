package blobgc_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluoro-dev/fluoro/internal/blob/localdir"
	"github.com/fluoro-dev/fluoro/internal/blobgc"
)

// used is the set of blob keys files refer to; hook runs inside BlobInUse.
type used struct {
	mu   sync.Mutex
	keys map[string]bool
	hook func(key string)
}

func (u *used) BlobInUse(_ context.Context, key string) (bool, error) {
	u.mu.Lock()
	h := u.hook
	u.mu.Unlock()
	if h != nil {
		h(key)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.keys[key], nil
}

func TestCollectDeletesOnlyOldUnusedBlobs(t *testing.T) {
	ctx := context.Background()
	blobs, err := localdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	for _, k := range []string{"sha256/aa/used", "sha256/bb/unused", "sha256/cc/unused-new", "runs/1/files/old.txt",
		"runs/2/files/used.txt", "uploads/stale", "uploads/in-flight", "other/kept"} {
		if _, err := blobs.Put(ctx, k, strings.NewReader("content of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	u := &used{keys: map[string]bool{"sha256/aa/used": true, "runs/2/files/used.txt": true}}
	// "now" is two hours on: every blob is past the 1 h grace, uploads not past their 24 h
	now := time.Now().Add(2 * time.Hour)
	st, err := blobgc.Collect(ctx, u, blobs, blobgc.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	left, _ := blobs.List(ctx, "")
	want := []string{"other/kept", "runs/2/files/used.txt", "sha256/aa/used", "uploads/in-flight", "uploads/stale"}
	if !slices.Equal(left, want) {
		t.Errorf("left %v\nwant %v", left, want)
	}
	if st.Scanned != 7 || st.Deleted != 3 || st.Bytes != int64(len("content of sha256/bb/unused")+len("content of sha256/cc/unused-new")+len("content of runs/1/files/old.txt")) {
		t.Errorf("stats = %+v", st)
	}
	// a day on, the uploads a crash left go too
	now = time.Now().Add(25 * time.Hour)
	if st, err = blobgc.Collect(ctx, u, blobs, blobgc.Options{Now: func() time.Time { return now }}); err != nil || st.Deleted != 2 {
		t.Errorf("second collection: %+v, %v", st, err)
	}
	// with the real clock, a fresh unused blob is within its grace
	if _, err := blobs.Put(ctx, "sha256/dd/fresh", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if st, err = blobgc.Collect(ctx, u, blobs, blobgc.Options{}); err != nil || st.Deleted != 0 {
		t.Errorf("fresh blob: %+v, %v", st, err)
	}
}

// TestAnUploadThatReusesTheDigestKeepsIt: a file row for the blob is stored
// (under the uploads' lock) between the collector's first look and its
// deletion; the collector asks again under the lock and keeps the blob.
func TestAnUploadThatReusesTheDigestKeepsIt(t *testing.T) {
	ctx := context.Background()
	blobs, err := localdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	if _, err := blobs.Put(ctx, "sha256/ee/reused", strings.NewReader("bytes")); err != nil {
		t.Fatal(err)
	}
	var lock sync.RWMutex
	u := &used{keys: map[string]bool{}}
	calls := 0
	uploaded := make(chan struct{})
	u.hook = func(string) {
		calls++
		if calls == 1 { // after the first look: an upload files the same digest and stores its row
			go func() {
				lock.RLock()
				u.mu.Lock()
				u.keys["sha256/ee/reused"] = true
				u.mu.Unlock()
				lock.RUnlock()
				close(uploaded)
			}()
			<-uploaded
		}
	}
	now := time.Now().Add(2 * time.Hour)
	st, err := blobgc.Collect(ctx, u, blobs, blobgc.Options{Lock: &lock, Now: func() time.Time { return now }})
	if err != nil || st.Deleted != 0 {
		t.Fatalf("collect: %+v, %v", st, err)
	}
	if _, err := blobs.Stat(ctx, "sha256/ee/reused"); err != nil {
		t.Errorf("the reused blob was deleted: %v", err)
	}
}
