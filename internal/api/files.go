package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"time"

	"github.com/fluoro-dev/fluoro/internal/blob"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// signedURLTTL is how long a download link works.
const signedURLTTL = time.Hour

// checkFileName validates a run file name: a clean relative path that is
// also a valid blob key (no "..", no leading '/', no control characters).
func checkFileName(name string) error {
	if err := blob.ValidKey(name); err != nil {
		return badData("file name %q: use a relative path without '..', empty segments, backslashes or control characters", name)
	}
	if len(name) > 512 {
		return badData("file name longer than 512 bytes")
	}
	return nil
}

func fileBlobKey(runPK int64, name string) string {
	return fmt.Sprintf("runs/%d/files/%s", runPK, name)
}

type hashingReader struct {
	r io.Reader
	h hash.Hash
}

func (h hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

func (a *API) uploadFile(w http.ResponseWriter, r *http.Request) error {
	run, err := a.run(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := checkFileName(name); err != nil {
		return err
	}
	h := sha256.New()
	key := fileBlobKey(run.PK, name)
	n, err := a.d.Blobs.Put(r.Context(), key, hashingReader{r.Body, h})
	if err != nil {
		return err
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = mime.TypeByExtension(path.Ext(name))
	}
	f := store.File{RunPK: run.PK, Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), BlobKey: key,
		ContentType: ct, UpdatedAt: a.now()}
	if err := a.d.Store.PutFile(r.Context(), f); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.fileJSON(r, run, f))
	return nil
}

type fileJSON struct {
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
	UpdatedAt   string `json:"updated_at"`
	URL         string `json:"url"` // signed download link, valid for an hour
}

func (a *API) fileJSON(r *http.Request, run store.Run, f store.File) fileJSON {
	return fileJSON{Name: f.Name, Size: f.Size, SHA256: f.SHA256, ContentType: f.ContentType,
		UpdatedAt: fmtTime(f.UpdatedAt), URL: a.signedURL(run.PK, f.Name, a.now().Add(signedURLTTL))}
}

func (a *API) listFiles(w http.ResponseWriter, r *http.Request) error {
	run, err := a.run(r)
	if err != nil {
		return err
	}
	fs, err := a.d.Store.ListFiles(r.Context(), run.PK)
	if err != nil {
		return err
	}
	out := make([]fileJSON, 0, len(fs))
	for _, f := range fs {
		out = append(out, a.fileJSON(r, run, f))
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": out})
	return nil
}

func (a *API) sign(runPK int64, name string, exp int64) string {
	m := hmac.New(sha256.New, a.d.SigningKey)
	fmt.Fprintf(m, "file\x00%d\x00%s\x00%d", runPK, name, exp)
	return hex.EncodeToString(m.Sum(nil))
}

func (a *API) signedURL(runPK int64, name string, exp time.Time) string {
	q := url.Values{}
	q.Set("run", strconv.FormatInt(runPK, 10))
	q.Set("name", name)
	q.Set("exp", strconv.FormatInt(exp.Unix(), 10))
	q.Set("sig", a.sign(runPK, name, exp.Unix()))
	return "/api/v1/files/download?" + q.Encode()
}

// download serves a file from a signed link: the link is the credential,
// so browsers and plain HTTP clients can fetch it.
func (a *API) download(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	runPK, err1 := strconv.ParseInt(q.Get("run"), 10, 64)
	exp, err2 := strconv.ParseInt(q.Get("exp"), 10, 64)
	name := q.Get("name")
	if err1 != nil || err2 != nil || name == "" {
		return badData("malformed download link: ask the files endpoint for a fresh one")
	}
	if !hmac.Equal([]byte(a.sign(runPK, name, exp)), []byte(q.Get("sig"))) {
		return errorf(http.StatusForbidden, CodeForbidden, "invalid download link signature")
	}
	if a.now().Unix() > exp {
		return errorf(http.StatusForbidden, CodeForbidden, "download link expired: ask the files endpoint for a fresh one")
	}
	f, err := a.d.Store.File(r.Context(), runPK, name)
	if err != nil {
		return err
	}
	rc, err := a.d.Blobs.Get(r.Context(), f.BlobKey)
	if err != nil {
		return err
	}
	defer rc.Close()
	ct := f.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.FormatInt(f.Size, 10))
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(f.Name)}))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("ETag", `"`+f.SHA256+`"`)
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, rc)
	return nil
}
