package spool_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fluoro-dev/fluoro/internal/config"
	"github.com/fluoro-dev/fluoro/internal/server"
	"github.com/fluoro-dev/fluoro/internal/spool"
)

const vectors = "../../sdk/testdata/spool"

type expected struct {
	Header       map[string]any `json:"header"`
	Segments     []string       `json:"segments"`
	TornSegments []string       `json:"torn_segments"`
	Acked        int64          `json:"acked"`
	Records      []struct {
		Seq  int64  `json:"seq"`
		Kind string `json:"kind"`
	} `json:"records"`
	Pending []struct {
		Seq    int64  `json:"seq"`
		Kind   string `json:"kind"`
		Method string `json:"method"`
		Path   string `json:"path"`
		Body   string `json:"body"`
	} `json:"pending"`
	ViewerEntity string `json:"viewer_entity"`
	HasFinish    bool   `json:"has_finish"`
	AfterSync    string `json:"after_sync"`
	FilesPending []struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
		Method string `json:"method"`
		Path   string `json:"path"`
	} `json:"files_pending"`
	FilesDone []string `json:"files_done"`
}

func vectorNames(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(vectors)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) < 4 {
		t.Fatalf("found %d vectors", len(names))
	}
	return names
}

func loadExpected(t *testing.T, name string) expected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectors, name, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestVectors checks the Go reader against the vectors the Python writer
// produced: the same records, acks, torn lines and exact requests.
func TestVectors(t *testing.T) {
	for _, name := range vectorNames(t) {
		t.Run(name, func(t *testing.T) {
			want := loadExpected(t, name)
			sp, err := spool.Read(filepath.Join(vectors, name))
			if err != nil {
				t.Fatal(err)
			}
			if sp.Header.RunID != want.Header["run_id"] || sp.Header.Entity != want.Header["entity"] || sp.Header.Writer != want.Header["writer"] {
				t.Errorf("header = %+v, want %v", sp.Header, want.Header)
			}
			if diff := cmp.Diff(want.Segments, sp.Segments); diff != "" {
				t.Errorf("segments (-want +got):\n%s", diff)
			}
			if len(want.TornSegments) != len(sp.Torn) {
				t.Errorf("torn = %v, want %v", sp.Torn, want.TornSegments)
			}
			if sp.Acked != want.Acked || sp.HasFinish != want.HasFinish {
				t.Errorf("acked %d finish %v, want %d %v", sp.Acked, sp.HasFinish, want.Acked, want.HasFinish)
			}
			if len(sp.Records) != len(want.Records) {
				t.Fatalf("%d records, want %d", len(sp.Records), len(want.Records))
			}
			for i, r := range want.Records {
				if sp.Records[i].Seq != r.Seq || sp.Records[i].Kind != r.Kind {
					t.Errorf("record %d = %d %s, want %d %s", i, sp.Records[i].Seq, sp.Records[i].Kind, r.Seq, r.Kind)
				}
			}
			if strings.Contains(fmt.Sprint(want.Pending), `"history"`) && sp.Spooled <= 0 {
				t.Errorf("spooled = %d: the vector's batches count their points", sp.Spooled)
			}
			pending := sp.Pending()
			if len(pending) != len(want.Pending) {
				t.Fatalf("%d pending, want %d", len(pending), len(want.Pending))
			}
			for i, w := range want.Pending {
				req := sp.Request(pending[i], want.ViewerEntity)
				got := []string{req.Method, req.Path, string(req.Body)}
				if diff := cmp.Diff([]string{w.Method, w.Path, w.Body}, got); diff != "" || pending[i].Seq != w.Seq {
					t.Errorf("pending %d (seq %d) (-want +got):\n%s", i, w.Seq, diff)
				}
			}
			files := sp.PendingFiles()
			if len(files) != len(want.FilesPending) {
				t.Fatalf("%d pending files, want %d", len(files), len(want.FilesPending))
			}
			for i, w := range want.FilesPending {
				req := sp.FileRequest(files[i], want.ViewerEntity)
				got := []any{files[i].Name, files[i].SHA256, files[i].Size, req.Method, req.Path}
				if diff := cmp.Diff([]any{w.Name, w.SHA256, w.Size, w.Method, w.Path}, got); diff != "" {
					t.Errorf("pending file %d (-want +got):\n%s", i, diff)
				}
			}
			var done []string
			for _, f := range sp.Files {
				if f.Acked {
					done = append(done, f.Name)
				}
			}
			sort.Strings(done)
			if len(done)+len(want.FilesDone) > 0 && !cmp.Equal(done, want.FilesDone) {
				t.Errorf("files done = %v, want %v", done, want.FilesDone)
			}
		})
	}
}

const key = "fluoro-spool00000000000000000000000000000000key"

// traffic counts a test server's requests.
type traffic struct {
	writes  atomic.Int64 // requests other than GETs
	spooled atomic.Int64 // the last X-Fluoro-Spooled header seen
}

func startServer(t *testing.T) (*httptest.Server, *traffic) {
	t.Helper()
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.DB = "sqlite://" + filepath.Join(cfg.Data, "fluoro.db")
	cfg.Blobs = "file://" + filepath.Join(cfg.Data, "blobs")
	cfg.AdminAPIKey = key
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var tr traffic
	h := srv.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "GET" {
			tr.writes.Add(1)
		}
		if v := r.Header.Get(spool.SpooledHeader); v != "" {
			n, _ := strconv.ParseInt(v, 10, 64)
			tr.spooled.Store(n)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return hs, &tr
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func get(t *testing.T, url string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestSyncVectorsAgainstServer replays each vector into a real server, then
// syncs again and checks the second sync writes nothing.
func TestSyncVectorsAgainstServer(t *testing.T) {
	for _, name := range vectorNames(t) {
		t.Run(name, func(t *testing.T) {
			want := loadExpected(t, name)
			hs, tr := startServer(t)
			dir := copyDir(t, filepath.Join(vectors, name))
			s := &spool.Syncer{BaseURL: hs.URL, Key: key}
			sp, err := spool.Read(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(want.Pending) == 0 {
				res, err := s.Sync(context.Background(), sp)
				if err != nil || res.Sent != 0 {
					t.Fatalf("sync of a fully acked spool = %+v, %v", res, err)
				}
				return
			}
			if sp.Pending()[0].Kind != spool.KindCreate {
				// The run was created online before the crash: do it here.
				body := `{"id":"` + sp.Header.RunID + `"}`
				req, _ := http.NewRequest("POST", hs.URL+"/api/v1/projects/admin/"+sp.Header.Project+"/runs", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				res, err := http.DefaultClient.Do(req)
				if err != nil || res.StatusCode/100 != 2 {
					t.Fatalf("create run: %v %v", res, err)
				}
				res.Body.Close()
			}
			res, err := s.Sync(context.Background(), sp)
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
			if res.Files != len(want.FilesPending) {
				t.Errorf("sync uploaded %d files, want %d", res.Files, len(want.FilesPending))
			}
			for _, f := range want.FilesPending {
				var list struct {
					Files []struct {
						Name   string `json:"name"`
						SHA256 string `json:"sha256"`
					} `json:"files"`
				}
				get(t, hs.URL+"/api/v1/projects/admin/"+sp.Header.Project+"/runs/"+sp.Header.RunID+"/files", &list)
				found := false
				for _, g := range list.Files {
					found = found || (g.Name == f.Name && g.SHA256 == f.SHA256)
				}
				if !found {
					t.Errorf("file %s (%s) not on the server: %+v", f.Name, f.SHA256, list.Files)
				}
			}
			if !res.Owner || res.Sent+res.Refused != len(want.Pending) {
				t.Errorf("sync result %+v, want %d records sent", res, len(want.Pending))
			}
			var run struct {
				State          string `json:"state"`
				Points         int64  `json:"points"`
				PointsLogged   *int64 `json:"points_logged"`
				PointsReceived *int64 `json:"points_received"`
				PointsPending  *int64 `json:"points_pending"`
			}
			get(t, hs.URL+"/api/v1/projects/admin/"+sp.Header.Project+"/runs/"+sp.Header.RunID, &run)
			// The batches count their points: the server has all the writer spooled.
			if sp.Spooled > 0 {
				if tr.spooled.Load() != sp.Spooled {
					t.Errorf("%s header = %d, want %d", spool.SpooledHeader, tr.spooled.Load(), sp.Spooled)
				}
				if run.PointsLogged == nil || *run.PointsLogged != sp.Spooled || *run.PointsReceived != sp.Spooled || *run.PointsPending != 0 {
					t.Errorf("points logged %v received %v pending %v, want %d, %d, 0",
						run.PointsLogged, run.PointsReceived, run.PointsPending, sp.Spooled, sp.Spooled)
				}
			}
			if strings.Contains(want.AfterSync, "crashed") && run.State != "crashed" {
				t.Errorf("run state %q, want crashed", run.State)
			}
			if !strings.Contains(want.AfterSync, "crashed") && run.State == "running" && want.HasFinish {
				t.Errorf("run still running after syncing its finish record")
			}
			before := tr.writes.Load()
			sp2, err := spool.Read(dir)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(sp2.Pending()) + len(sp2.PendingFiles()); n != 0 {
				t.Errorf("after sync %d records or files still pending", n)
			}
			res2, err := s.Sync(context.Background(), sp2)
			if err != nil || res2.Sent != 0 || tr.writes.Load() != before {
				t.Errorf("second sync = %+v, %v, %d writes; want nothing", res2, err, tr.writes.Load()-before)
			}
		})
	}
}

// TestSyncUploadsLegacyMetadata: a run directory written before the file
// index existed still gets its files/fluoro-metadata.json uploaded, once.
func TestSyncUploadsLegacyMetadata(t *testing.T) {
	hs, tr := startServer(t)
	dir := copyDir(t, filepath.Join(vectors, "offline"))
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	meta := []byte(`{"python": "3.11"}` + "\n")
	if err := os.WriteFile(filepath.Join(dir, "files", "fluoro-metadata.json"), meta, 0o644); err != nil {
		t.Fatal(err)
	}
	s := &spool.Syncer{BaseURL: hs.URL, Key: key}
	sp, err := spool.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sp.HasFileIndex || len(sp.PendingFiles()) != 0 {
		t.Fatalf("an old spool has no file index: %+v", sp.Files)
	}
	res, err := s.Sync(context.Background(), sp)
	if err != nil || res.Files != 1 {
		t.Fatalf("sync = %+v, %v; want 1 file", res, err)
	}
	var list struct {
		Files []struct {
			Name string `json:"name"`
			Size int64  `json:"size"`
		} `json:"files"`
	}
	get(t, hs.URL+"/api/v1/projects/admin/vectors/runs/offline01/files", &list)
	if len(list.Files) != 1 || list.Files[0].Name != "fluoro-metadata.json" || list.Files[0].Size != int64(len(meta)) {
		t.Errorf("files on the server: %+v", list.Files)
	}
	sp2, err := spool.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !sp2.HasFileIndex || len(sp2.Files) != 1 || !sp2.Files[0].Acked {
		t.Errorf("index after sync: %+v", sp2.Files)
	}
	before := tr.writes.Load()
	if res, err := s.Sync(context.Background(), sp2); err != nil || res.Files != 0 || tr.writes.Load() != before {
		t.Errorf("second sync = %+v, %v, %d writes", res, err, tr.writes.Load()-before)
	}
}
