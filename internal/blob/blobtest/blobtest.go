// Package blobtest is the conformance suite every blob.Store backend must
// pass. A backend's own test calls Run with a constructor of empty stores.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/blob"
	"github.com/google/go-cmp/cmp"
)

// Run runs the suite; open must return a new, empty store.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"PutGetRoundTrip", testPutGet},
		{"Overwrite", testOverwrite},
		{"NotFound", testNotFound},
		{"InvalidKeys", testInvalidKeys},
		{"List", testList},
		{"Delete", testDelete},
		{"Rename", testRename},
		{"SeekableGet", testSeekableGet},
		{"ConcurrentPuts", testConcurrent},
		{"UnicodeKeys", testUnicode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

func put(t *testing.T, s blob.Store, key, body string) {
	t.Helper()
	n, err := s.Put(context.Background(), key, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	if n != int64(len(body)) {
		t.Fatalf("Put(%q) wrote %d bytes, want %d", key, n, len(body))
	}
}

func get(t *testing.T, s blob.Store, key string) string {
	t.Helper()
	r, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return string(b)
}

func testPutGet(t *testing.T, s blob.Store) {
	body := strings.Repeat("fluoro ", 100000)
	put(t, s, "runs/1/files/model.txt", body)
	if got := get(t, s, "runs/1/files/model.txt"); got != body {
		t.Fatalf("Get returned %d bytes, want %d", len(got), len(body))
	}
	a, err := s.Stat(context.Background(), "runs/1/files/model.txt")
	if err != nil {
		t.Fatal(err)
	}
	if a.Size != int64(len(body)) {
		t.Errorf("Stat size = %d, want %d", a.Size, len(body))
	}
	put(t, s, "empty", "")
	if got := get(t, s, "empty"); got != "" {
		t.Errorf("empty blob read back %q", got)
	}
}

func testOverwrite(t *testing.T, s blob.Store) {
	put(t, s, "a/b", "first")
	put(t, s, "a/b", "second, longer")
	if got := get(t, s, "a/b"); got != "second, longer" {
		t.Errorf("after overwrite got %q", got)
	}
}

func testNotFound(t *testing.T, s blob.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "missing"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.Stat(ctx, "missing"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat(missing) = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "missing"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Delete(missing) = %v, want ErrNotFound", err)
	}
	put(t, s, "dir/file", "x")
	if _, err := s.Get(ctx, "dir"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get(dir) of a key prefix = %v, want ErrNotFound", err)
	}
}

func testInvalidKeys(t *testing.T, s blob.Store) {
	ctx := context.Background()
	for _, key := range []string{"", "../escape", "a/../../b", "/abs", "a//b", "a/./b", "a\\b", "nul\x00", "bad\xffutf8", "trailing/", strings.Repeat("k", blob.MaxKeyLen+1)} {
		if _, err := s.Put(ctx, key, strings.NewReader("x")); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Get(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
}

func testList(t *testing.T, s blob.Store) {
	for _, k := range []string{"runs/2/b", "runs/1/a", "runs/1/c/d", "other/x"} {
		put(t, s, k, k)
	}
	got, err := s.List(context.Background(), "runs/1/")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"runs/1/a", "runs/1/c/d"}, got); diff != "" {
		t.Errorf("List(runs/1/) (-want +got):\n%s", diff)
	}
	all, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Errorf("List(\"\") = %v, want 4 keys", all)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	put(t, s, "gone/soon", "x")
	if err := s.Delete(context.Background(), "gone/soon"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), "gone/soon"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
}

func testRename(t *testing.T, s blob.Store) {
	ctx := context.Background()
	put(t, s, "uploads/tmp1", "content")
	if err := s.Rename(ctx, "uploads/tmp1", "sha256/ab/cdef"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	if got := get(t, s, "sha256/ab/cdef"); got != "content" {
		t.Errorf("renamed blob = %q", got)
	}
	if _, err := s.Get(ctx, "uploads/tmp1"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get(source) after Rename = %v, want ErrNotFound", err)
	}
	// Onto an existing key: replaced whole.
	put(t, s, "uploads/tmp2", "newer")
	if err := s.Rename(ctx, "uploads/tmp2", "sha256/ab/cdef"); err != nil {
		t.Fatalf("Rename onto an existing key: %v", err)
	}
	if got := get(t, s, "sha256/ab/cdef"); got != "newer" {
		t.Errorf("after Rename onto an existing key got %q", got)
	}
	keys, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sha256/ab/cdef"}, keys); diff != "" {
		t.Errorf("keys after renames (-want +got):\n%s", diff)
	}
	if err := s.Rename(ctx, "uploads/missing", "x"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Rename(missing) = %v, want ErrNotFound", err)
	}
	if err := s.Rename(ctx, "sha256", "x"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Rename(key prefix) = %v, want ErrNotFound", err)
	}
	for _, pair := range [][2]string{{"../x", "y"}, {"sha256/ab/cdef", "../escape"}, {"sha256/ab/cdef", "/abs"}, {"sha256/ab/cdef", "a\\b"}} {
		if err := s.Rename(ctx, pair[0], pair[1]); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Rename(%q, %q) = %v, want ErrInvalidKey", pair[0], pair[1], err)
		}
	}
	if got := get(t, s, "sha256/ab/cdef"); got != "newer" {
		t.Errorf("refused renames changed the blob: %q", got)
	}
}

// testSeekableGet checks the optional seeking: a backend whose Get returns
// an io.Seeker must seek correctly (HTTP range requests rely on it).
func testSeekableGet(t *testing.T, s blob.Store) {
	put(t, s, "seek", "0123456789")
	r, err := s.Get(context.Background(), "seek")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rs, ok := r.(io.ReadSeeker)
	if !ok {
		t.Skip("Get does not return an io.ReadSeeker")
	}
	if n, err := rs.Seek(0, io.SeekEnd); err != nil || n != 10 {
		t.Fatalf("Seek(end) = %d, %v", n, err)
	}
	if _, err := rs.Seek(4, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	if _, err := io.ReadFull(rs, b); err != nil || string(b) != "456" {
		t.Errorf("read after Seek = %q, %v", b, err)
	}
}

func testConcurrent(t *testing.T, s blob.Store) {
	var wg sync.WaitGroup
	bodies := []string{strings.Repeat("a", 1<<16), strings.Repeat("b", 1<<17)}
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := s.Put(context.Background(), "same", bytes.NewReader([]byte(bodies[i%2]))); err != nil {
				t.Errorf("concurrent Put: %v", err)
			}
		}(i)
	}
	wg.Wait()
	got := get(t, s, "same")
	if got != bodies[0] && got != bodies[1] {
		t.Errorf("concurrent puts left a torn blob of %d bytes", len(got))
	}
}

func testUnicode(t *testing.T, s blob.Store) {
	key := "runs/ünï cødé/文件 name.txt"
	put(t, s, key, "hello")
	if got := get(t, s, key); got != "hello" {
		t.Errorf("got %q", got)
	}
}
