package localdir_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/blob"
	"github.com/fluoro-dev/fluoro/internal/blob/blobtest"
	"github.com/fluoro-dev/fluoro/internal/blob/localdir"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		d, err := localdir.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestTempFilesAreHiddenAndCleaned(t *testing.T) {
	dir := t.TempDir()
	d, err := localdir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Put(t.Context(), ".tmp/x", nil); err == nil {
		t.Fatal("Put into the temp dir was accepted")
	}
	left, _ := os.ReadDir(filepath.Join(dir, ".tmp"))
	if len(left) != 0 {
		t.Errorf("temp files left behind: %v", left)
	}
}
