package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluoro-dev/fluoro/internal/blob/localdir"
	"github.com/fluoro-dev/fluoro/internal/config"
)

func sha(b string) string {
	s := sha256.Sum256([]byte(b))
	return hex.EncodeToString(s[:])
}

// blobFiles lists the files under the blob directory's dir, relative.
func (e *env) blobFiles(dir string) []string {
	e.t.Helper()
	var out []string
	root := filepath.Join(e.data, "blobs", dir)
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

// sessionCookie logs in through the web UI's ?token= link.
func (e *env) sessionCookie() string {
	e.t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(e.url + "/?token=" + adminKey)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "fluoro_session" {
			return c.Name + "=" + c.Value
		}
	}
	e.t.Fatalf("login link set no session cookie (status %d)", res.StatusCode)
	return ""
}

const filesURL = "/api/v1/projects/admin/p/runs/r1/files/"

func TestServeFile(t *testing.T) {
	e := newEnv(t, 1<<20)
	e.createRun("p", "r1")
	html := `<html><script>fetch("/api/v1/viewer")</script></html>`
	if r := e.do("PUT", filesURL+"media/html/plot.html", []byte(html), "Content-Type", "text/html; charset=utf-8"); r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	png := "\x89PNG fake image bytes"
	pngName := "media/images/img_3_" + sha(png)[:20] + ".png"
	if r := e.do("PUT", filesURL+pngName, []byte(png)); r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", filesURL+"notes.txt", []byte("hello"), "Content-Type", "not a / type;;"); r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	for name, want := range map[string]string{"a.wav": "audio/wav", "b.MP4": "video/mp4", "c.gif": "image/gif",
		"t.table.json": "application/json", "f.svg": "image/svg+xml", "blob": "application/octet-stream"} {
		e.do("PUT", filesURL+"types/"+name, []byte("x"))
		if got := e.do("GET", filesURL+"types/"+name, nil).header.Get("Content-Type"); got != want {
			t.Errorf("%s served as %q, want %q", name, got, want)
		}
	}
	cookie := e.sessionCookie()
	cases := []struct {
		name    string
		path    string
		hdr     []string
		status  int
		body    string
		headers map[string]string
	}{
		{"html with key", "media/html/plot.html", nil, 200, html, map[string]string{
			"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": "sandbox allow-scripts",
			"X-Content-Type-Options": "nosniff", "ETag": `"` + sha(html) + `"`, "Cache-Control": "private, no-cache",
			"Content-Disposition": `inline; filename=plot.html`, "Accept-Ranges": "bytes", "Referrer-Policy": "no-referrer"}},
		{"html with the session cookie", "media/html/plot.html", []string{"Authorization", "", "Cookie", cookie}, 200, html,
			map[string]string{"Content-Security-Policy": "sandbox allow-scripts"}},
		{"anonymous", "media/html/plot.html", []string{"Authorization", ""}, 401, "", nil},
		{"bad cookie", "media/html/plot.html", []string{"Authorization", "", "Cookie", "fluoro_session=x.y"}, 401, "", nil},
		{"digest in the name: immutable", pngName, nil, 200, png, map[string]string{
			"Content-Type": "image/png", "Cache-Control": "private, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"}},
		{"range", pngName, []string{"Range", "bytes=1-3"}, 206, "PNG", map[string]string{"Content-Range": fmt.Sprintf("bytes 1-3/%d", len(png))}},
		{"not modified", pngName, []string{"If-None-Match", `"` + sha(png) + `"`}, 304, "", nil},
		{"changed etag", pngName, []string{"If-None-Match", `"0000"`}, 200, png, nil},
		{"unparsable type at upload: the extension's", "notes.txt", nil, 200, "hello", map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
		{"missing", "nope.txt", nil, 404, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("GET", filesURL+c.path, nil, c.hdr...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %.200s", r.status, c.status, r.body)
			}
			if c.body != "" && string(r.body) != c.body {
				t.Errorf("body %q, want %q", r.body, c.body)
			}
			for k, v := range c.headers {
				if got := r.header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
	// HEAD gives the headers without the body.
	if r := e.do("HEAD", filesURL+pngName, nil); r.status != 200 || len(r.body) != 0 || r.header.Get("Content-Length") != fmt.Sprint(len(png)) {
		t.Errorf("HEAD = %d, %d bytes, length %q", r.status, len(r.body), r.header.Get("Content-Length"))
	}
	// The signed download is user content too, as an attachment.
	list := e.do("GET", "/api/v1/projects/admin/p/runs/r1/files", nil).json(t)
	var link string
	for _, f := range list["files"].([]any) {
		if m := f.(map[string]any); m["name"] == "media/html/plot.html" {
			link = m["url"].(string)
		}
	}
	dl := e.do("GET", link, nil, "Authorization", "", "Range", "bytes=0-5")
	if dl.status != 206 || string(dl.body) != html[:6] {
		t.Fatalf("signed ranged download = %d %q", dl.status, dl.body)
	}
	for k, v := range map[string]string{"Content-Security-Policy": "sandbox allow-scripts", "X-Content-Type-Options": "nosniff",
		"Content-Disposition": "attachment; filename=plot.html", "ETag": `"` + sha(html) + `"`} {
		if got := dl.header.Get(k); got != v {
			t.Errorf("download %s = %q, want %q", k, got, v)
		}
	}
}

func TestFileNamesCannotEscape(t *testing.T) {
	e := newEnv(t, 1<<20)
	e.createRun("p", "r1")
	e.createRun("p", "r2")
	secret := "secret of r2"
	if r := e.do("PUT", "/api/v1/projects/admin/p/runs/r2/files/secret.txt", []byte(secret)); r.status != 200 {
		t.Fatal(r.status)
	}
	outside := filepath.Join(e.data, "outside.txt")
	if err := os.WriteFile(outside, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	// A literal "../" that stays inside /api/v1 is plain URL resolution
	// (the mux redirects to the cleaned path, checked as itself); these are
	// the escapes that reach the handler or the blob store.
	names := []string{
		"..%2F..%2Fr2%2Ffiles%2Fsecret.txt", "%2e%2e/%2e%2e/r2/files/secret.txt", "%2E%2E%2F%2E%2E%2Fr2%2Ffiles%2Fsecret.txt",
		"a/../../../../../outside.txt", "..%2F..%2F..%2F..%2F..%2F..%2Foutside.txt",
		"%2F" + strings.TrimPrefix(outside, "/"), "..%5C..%5Coutside.txt", "back%5Cslash", "nul%00byte", "dir%2F%2Fx", "",
	}
	for _, name := range names {
		for _, method := range []string{"GET", "PUT"} {
			r := e.do(method, filesURL+name, []byte("evil"))
			t.Logf("%s files/%s = %d", method, name, r.status)
			if r.status == 200 || strings.Contains(string(r.body), secret) {
				t.Errorf("%s files/%s = %d %.100s", method, name, r.status, r.body)
			}
		}
	}
	// A name that is a clean path but not a file of this run.
	if r := e.do("GET", filesURL+"secret.txt", nil); r.status != 404 {
		t.Errorf("another run's file = %d", r.status)
	}
	if b, _ := os.ReadFile(outside); string(b) != secret {
		t.Errorf("a file outside the store changed: %q", b)
	}
	list := e.do("GET", "/api/v1/projects/admin/p/runs/r1/files", nil)
	if strings.Contains(string(list.body), `"name"`) {
		t.Errorf("refused uploads left files: %s", list.body)
	}
}

func TestFileDedupeAndDigest(t *testing.T) {
	e := newEnv(t, 1<<20)
	e.createRun("p", "r1")
	e.createRun("p", "r2")
	body := "the same checkpoint bytes"
	for _, run := range []string{"r1", "r2"} {
		r := e.do("PUT", "/api/v1/projects/admin/p/runs/"+run+"/files/ckpt.bin", []byte(body), "X-Fluoro-SHA256", strings.ToUpper(sha(body)))
		if r.status != 200 || r.json(t)["sha256"] != sha(body) {
			t.Fatalf("upload to %s: %d %s", run, r.status, r.body)
		}
	}
	want := []string{sha(body)[:2] + "/" + sha(body)[2:]}
	if got := e.blobFiles("sha256"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("blobs after two uploads of the same bytes = %v, want %v", got, want)
	}
	// Replacing r1's copy leaves the blob r2 still uses.
	if r := e.do("PUT", "/api/v1/projects/admin/p/runs/r1/files/ckpt.bin", []byte("new")); r.status != 200 {
		t.Fatal(r.status)
	}
	if r := e.do("GET", "/api/v1/projects/admin/p/runs/r2/files/ckpt.bin", nil); r.status != 200 || string(r.body) != body {
		t.Errorf("r2's file after r1 replaced its copy = %d %q", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/projects/admin/p/runs/r1/files/ckpt.bin", nil); string(r.body) != "new" {
		t.Errorf("r1's file = %q", r.body)
	}
	if n := len(e.blobFiles("sha256")); n != 2 {
		t.Errorf("%d digest blobs, want 2", n)
	}
	// A digest that does not match stores nothing.
	bad := []struct {
		name, header string
		contains     string
	}{
		{"mismatch", sha("other bytes"), "nothing was stored"},
		{"malformed", "xyz", "64 hex digits"},
		{"short", sha(body)[:10], "64 hex digits"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("PUT", filesURL+"damaged.bin", []byte("damaged "+c.name), "X-Fluoro-SHA256", c.header)
			if r.status != 400 || !strings.Contains(string(r.body), c.contains) {
				t.Fatalf("status %d %s; want 400 containing %q", r.status, r.body, c.contains)
			}
			if r := e.do("GET", filesURL+"damaged.bin", nil); r.status != 404 {
				t.Errorf("the damaged upload is served: %d", r.status)
			}
		})
	}
	if n := len(e.blobFiles("sha256")); n != 2 {
		t.Errorf("%d digest blobs after refused uploads, want 2", n)
	}
	if left := e.blobFiles("uploads"); len(left) != 0 {
		t.Errorf("temporary uploads left behind: %v", left)
	}
}

// TestLegacyFileBlob: files stored before content addressing (under
// runs/<pk>/files/<name>) are still served, and their blob goes when the
// file is replaced.
func TestLegacyFileBlob(t *testing.T) {
	e := newEnv(t, 1<<20)
	e.createRun("p", "r1")
	db, err := sql.Open("sqlite", filepath.Join(e.data, "fluoro.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pk int64
	if err := db.QueryRow(`SELECT id FROM runs WHERE run_id = 'r1'`).Scan(&pk); err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("runs/%d/files/old/model.txt", pk)
	blobs, err := localdir.Open(filepath.Join(e.data, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blobs.Put(context.Background(), key, strings.NewReader("old weights")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO files (run_id, name, size, sha256, blob_key, content_type, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		pk, "old/model.txt", 11, sha("old weights"), key, "text/html;;bogus", 1); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", filesURL+"old/model.txt", nil)
	if r.status != 200 || string(r.body) != "old weights" {
		t.Fatalf("legacy file = %d %q", r.status, r.body)
	}
	// A stored type that does not parse is served as opaque bytes.
	if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	if r := e.do("PUT", filesURL+"old/model.txt", []byte("new weights")); r.status != 200 {
		t.Fatal(r.status)
	}
	if r := e.do("GET", filesURL+"old/model.txt", nil); string(r.body) != "new weights" {
		t.Errorf("replaced legacy file = %q", r.body)
	}
	if left := e.blobFiles("runs"); len(left) != 0 {
		t.Errorf("the replaced legacy blob is still there: %v", left)
	}
}

// TestFileSizeLimit: run files have their own limit (--max-file), above the
// request body limit that guards JSON endpoints; an upload over it is a 413
// that says which setting to raise, and stores nothing.
func TestFileSizeLimit(t *testing.T) {
	e := newEnvTB(t, 4096, func(c *config.Config) { c.MaxFile = 64 << 10 })
	e.createRun("p", "r1")
	put := "/api/v1/projects/admin/p/runs/r1/files/"
	if r := e.do("PUT", put+"ok.bin", []byte(strings.Repeat("a", 32<<10))); r.status != http.StatusOK {
		t.Fatalf("32 KiB file over max-body but under max-file: %d %s", r.status, r.body)
	}
	r := e.do("PUT", put+"big.bin", []byte(strings.Repeat("b", 100<<10)))
	if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.body), "65536") {
		t.Fatalf("100 KiB file: %d %s", r.status, r.body)
	}
	files := e.do("GET", "/api/v1/projects/admin/p/runs/r1/files", nil)
	if strings.Contains(string(files.body), "big.bin") {
		t.Fatalf("a refused upload was listed: %s", files.body)
	}
	if left := e.blobFiles("uploads"); len(left) != 0 {
		t.Fatalf("temporary blobs left behind: %v", left)
	}
	// JSON endpoints keep the small limit.
	big := batchJSON("r1", 1, `[{"step":1,"values":{"s":"`+strings.Repeat("x", 8000)+`"}}]`)
	if r := e.do("POST", "/api/v1/ingest", big); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("ingest over max-body: %d %s", r.status, r.body)
	}
}

// TestExpiredDownloadLink signs links the way the server does (with its
// stored key) and checks that a link whose expiry has passed gets a 403
// saying so, while the same file behind a link still valid downloads.
func TestExpiredDownloadLink(t *testing.T) {
	e := newEnv(t, 1<<20)
	e.createRun("p", "r1")
	if r := e.do("PUT", filesURL+"out.txt", []byte("result")); r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	list := e.do("GET", "/api/v1/projects/admin/p/runs/r1/files", nil).json(t)
	link, err := url.Parse(list["files"].([]any)[0].(map[string]any)["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	q := link.Query()
	db, err := sql.Open("sqlite", filepath.Join(e.data, "fluoro.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var key []byte
	if err := db.QueryRow(`SELECT value FROM settings WHERE key = 'url_signing_key'`).Scan(&key); err != nil {
		t.Fatal(err)
	}
	sign := func(exp string) string {
		m := hmac.New(sha256.New, key)
		fmt.Fprintf(m, "file\x00%s\x00%s\x00%s", q.Get("run"), q.Get("name"), exp)
		return hex.EncodeToString(m.Sum(nil))
	}
	if sign(q.Get("exp")) != q.Get("sig") {
		t.Fatal("the test does not sign links as the server does")
	}
	linkAt := func(exp time.Time) string {
		l := url.Values{"run": {q.Get("run")}, "name": {q.Get("name")}, "exp": {strconv.FormatInt(exp.Unix(), 10)}}
		l.Set("sig", sign(l.Get("exp")))
		return "/api/v1/files/download?" + l.Encode()
	}
	if r := e.do("GET", linkAt(time.Now().Add(time.Minute)), nil, "Authorization", ""); r.status != 200 || string(r.body) != "result" {
		t.Fatalf("valid link: %d %q", r.status, r.body)
	}
	r := e.do("GET", linkAt(time.Now().Add(-2*time.Second)), nil, "Authorization", "")
	if r.status != 403 || !strings.Contains(string(r.body), "expired") || strings.Contains(string(r.body), "result") {
		t.Fatalf("expired link: %d %s; want 403 saying it expired", r.status, r.body)
	}
}
