package server_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCollectBlobsAfterAFileIsReplaced uploads a file three times with new
// content (what save(policy="live") does): the collector deletes the two
// old contents, keeps the current one, and the file still downloads.
func TestCollectBlobsAfterAFileIsReplaced(t *testing.T) {
	data := t.TempDir()
	url, srv, _, _ := openServer(t, data, adminKey)
	do := func(method, path, body string) (int, string) { return call(t, method, url+path, adminKey, body) }
	if code, body := do("POST", "/api/v1/projects/admin/p/runs", `{"id":"r1"}`); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	for _, v := range []string{"checkpoint v1", "checkpoint v2", "checkpoint v3"} {
		if code, body := do("PUT", "/api/v1/projects/admin/p/runs/r1/files/model.pt", v); code != http.StatusOK {
			t.Fatalf("upload %s: %d %s", v, code, body)
		}
	}
	blobs := func() int {
		n := 0
		_ = filepath.WalkDir(filepath.Join(data, "blobs", "sha256"), func(_ string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	if n := blobs(); n != 3 {
		t.Fatalf("blobs before = %d", n)
	}
	// within the grace (now): nothing goes
	if st, err := srv.CollectBlobs(context.Background(), time.Now()); err != nil || st.Deleted != 0 {
		t.Fatalf("collect now: %+v, %v", st, err)
	}
	st, err := srv.CollectBlobs(context.Background(), time.Now().Add(2*time.Hour))
	if err != nil || st.Deleted != 2 || st.Bytes != int64(2*len("checkpoint v1")) {
		t.Fatalf("collect later: %+v, %v", st, err)
	}
	if n := blobs(); n != 1 {
		t.Errorf("blobs after = %d", n)
	}
	if code, body := do("GET", "/api/v1/projects/admin/p/runs/r1/files/model.pt", ""); code != http.StatusOK || body != "checkpoint v3" {
		t.Errorf("the current file: %d %q", code, body)
	}
	if _, body := do("GET", "/metrics", ""); !strings.Contains(body, "fluoro_blob_gc_deleted_total 2") {
		t.Errorf("/metrics lacks the collector's count")
	}
}
